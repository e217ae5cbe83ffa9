# Built from the static binary that `make build` writes: no base image is
# pulled, so the image builds offline. Run it with the Docker socket mounted
# read-only and the socket's group added, e.g.
#   docker run -d -p 9742:9742 -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     --group-add "$(stat -c %g /var/run/docker.sock)" docker-monitor
FROM scratch
COPY docker-monitor /bin/docker-monitor
USER 65534:65534
EXPOSE 9742
ENTRYPOINT ["/bin/docker-monitor"]
