//go:build ignore

// mkrootfs writes rootfs.tar, which the Dockerfile ADDs to the FROM scratch
// image: a home for the user the image runs as, and the passwd and group
// lines that name it. A tar, not a directory COPY: git records no directory
// modes, and the classic builder (the one the tests use) has no COPY
// --chmod, so only a tar's headers make ~/.ssh come out 0700 and owned by
// 65534 from any checkout. Entries are in a fixed order and timestamped 0, so
// that the same source gives the same bytes; integration/image_test.go checks
// that rootfs.tar is this program's output.
//
//	go run image/mkrootfs.go -o image/rootfs.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

const (
	uid  = 65534 // the Dockerfile's USER; numeric there, so that runAsNonRoot can check it
	home = "home/docker-monitor"
)

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/` + home + `:/sbin/nologin
`

const group = `root:x:0:
nogroup:x:65534:
`

// An entry whose name ends in / is a directory, any other a file holding body.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     string
}

var entries = []entry{
	{name: "etc/", mode: 0o755},
	{name: "etc/group", mode: 0o644, body: group},
	{name: "etc/passwd", mode: 0o644, body: passwd},
	{name: "home/", mode: 0o755},
	// Private, as OpenSSH keeps them: the exporter writes known_hosts here
	// under host_key_policy accept-new.
	{name: home + "/", mode: 0o700, uid: uid, gid: uid},
	{name: home + "/.ssh/", mode: 0o700, uid: uid, gid: uid},
}

func main() {
	out := flag.String("o", "rootfs.tar", "where to write the tar")
	flag.Parse()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: time.Unix(0, 0),
			Format:  tar.FormatUSTAR,
		}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			fail(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			fail(err)
		}
	}
	if err := tw.Close(); err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkrootfs:", err)
	os.Exit(1)
}
