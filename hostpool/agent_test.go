package hostpool

import (
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/snadboy/docker-monitor/config"
)

// With ssh.agent the key comes from the agent at SSH_AUTH_SOCK, and the
// connection to the agent is closed once the handshake is over.
func TestSSHAgentAuth(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: k.clientPriv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var open atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			go func() {
				_ = agent.ServeAgent(keyring, c)
				open.Add(-1)
			}()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)

	d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, k.ed), Agent: true})
	d.spec.KeyFile = "" // the agent's key only
	if err := connect(t, d); err != nil {
		t.Fatalf("connect with the agent's key: %v (reason %s)\nlogs: %s", err, Reason(err), logs)
	}
	for deadline := time.Now().Add(5 * time.Second); open.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection to the agent is still open after the handshake")
		}
	}
}
