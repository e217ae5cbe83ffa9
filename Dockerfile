# Built from the static binary that `make build` writes: no base image is
# pulled, so the image builds offline. See docs/docker.md for how to run it,
# against the local socket or a fleet reached over SSH.
FROM scratch
# The user's home, its ~/.ssh and the passwd line naming it, from a tar so
# that ownership and modes do not depend on the checkout: image/mkrootfs.go.
ADD image/rootfs.tar /
COPY docker-monitor /bin/docker-monitor
# ssh.known_hosts defaults to ~/.ssh/known_hosts. Docker would derive HOME
# from /etc/passwd too, but an image without that line got /, and /.ssh is a
# place this user can neither read nor create: say it outright.
ENV HOME=/home/docker-monitor
USER 65534:65534
EXPOSE 9742
ENTRYPOINT ["/bin/docker-monitor"]
