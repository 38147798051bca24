// Command flagwright-cluster runs a real, throwaway Kubernetes control plane on loopback:
// etcd embedded in this process and kube-apiserver started in-process, with generated
// certificates, an admin credential and RBAC. It exists for Flagwright's integration tests and
// local demo, where Docker-based clusters are not available.
//
// On readiness it prints one JSON line to stdout ({"kubeconfig":..., "server":..., "dir":...}).
// SIGINT or SIGTERM (or its parent process exiting) stops the apiserver and etcd and removes
// the data directory.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"

	_ "k8s.io/component-base/logs/json/register"
)

type readyLine struct {
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	Dir        string `json:"dir"`
	EtcdURL    string `json:"etcd"`
	PID        int    `json:"pid"`
}

func main() {
	runNodeCommand()
	keep := flag.Bool("keep", false, "keep the data directory on exit (to restart the same cluster later)")
	dirFlag := flag.String("dir", "", "data directory (default: a new temporary directory); an existing one restarts "+
		"that cluster with its data, certificates and ports")
	verbosity := flag.String("v", "0", "kube-apiserver log verbosity")
	var extra extraArgs
	flag.Var(&extra, "apiserver-arg", "an extra kube-apiserver flag, e.g. --apiserver-arg=--watch-cache=false (repeatable; "+
		"fault tests use it to reach etcd's behaviour directly)")
	flag.Parse()

	if err := run(*dirFlag, *keep, *verbosity, extra); err != nil {
		fmt.Fprintln(os.Stderr, "flagwright-cluster:", err)
		os.Exit(1)
	}
}

// extraArgs collects repeated --apiserver-arg flags.
type extraArgs []string

func (a *extraArgs) String() string     { return fmt.Sprint(*a) }
func (a *extraArgs) Set(v string) error { *a = append(*a, v); return nil }

func run(dir string, keep bool, verbosity string, extra []string) error {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flagwright-cluster-"); err != nil {
			return err
		}
	}
	if !keep {
		defer os.RemoveAll(dir)
	}

	pki, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	ports, err := clusterPorts(filepath.Join(dir, "ports.json"))
	if err != nil {
		return err
	}
	etcdClientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiPort := ports[2]

	etcd, err := startEtcd(filepath.Join(dir, "etcd"), etcdClientURL, etcdPeerURL)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	defer etcd.Close()

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return err
	}

	// NewAPIServerCommand installs the SIGINT/SIGTERM handler; its context ends the server.
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append([]string{
		"--etcd-servers=" + etcdClientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.saPublic,
		"--service-account-signing-key-file=" + pki.saPrivate,
		"--endpoint-reconciler-type=none",
		"--v=" + verbosity,
	}, append(defaultAdmission(extra), extra...)...))
	serverDone := make(chan error, 1)
	go func() { serverDone <- cmd.Execute() }()
	go exitWithParent()

	ready := make(chan error, 1)
	go func() { ready <- waitReady(server, pki, 90*time.Second) }()
	select {
	case err := <-ready:
		if err != nil {
			return err
		}
	case err := <-serverDone:
		return fmt.Errorf("kube-apiserver exited before it was ready: %v", err)
	}

	line, _ := json.Marshal(readyLine{Kubeconfig: kubeconfig, Server: server, Dir: dir, EtcdURL: etcdClientURL, PID: os.Getpid()})
	fmt.Println(string(line))

	err = <-serverDone
	if err != nil && err != context.Canceled {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	return nil
}

func startEtcd(dir, clientURL, peerURL string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "flagwright"
	cu, _ := url.Parse(clientURL)
	pu, _ := url.Parse(peerURL)
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = "flagwright=" + peerURL
	cfg.LogLevel = "error"
	// A throwaway test store: durability across power loss buys nothing and fsync costs seconds.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 30s")
	}
}

func waitReady(server string, pki *pkiFiles, timeout time.Duration) error {
	cert, err := tls.LoadX509KeyPair(pki.adminCert, pki.adminKey)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(pki.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %s", timeout, last)
}

// clusterPorts reuses the ports of an earlier run in the same folder, so a restarted cluster keeps
// its kubeconfig valid; otherwise it picks free ones and records them.
func clusterPorts(path string) ([]int, error) {
	var ports []int
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &ports); err != nil || len(ports) != 3 {
			return nil, fmt.Errorf("unreadable %s: %v", path, err)
		}
		return ports, nil
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(ports)
	return ports, os.WriteFile(path, data, 0o600)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// exitWithParent stops the cluster when the process that started it dies without stopping it
// (a crashed test run must not leave an apiserver behind).
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			p, _ := os.FindProcess(os.Getpid())
			p.Signal(syscall.SIGTERM)
			return
		}
	}
}

// defaultAdmission turns the ServiceAccount admission plugin off (no controller-manager creates
// the `default` ServiceAccount that it would require of every pod), unless the caller chose the
// disabled plugins itself: kube-apiserver appends repeated list flags instead of replacing them.
func defaultAdmission(extra []string) []string {
	for _, arg := range extra {
		if strings.HasPrefix(arg, "--disable-admission-plugins") {
			return nil
		}
	}
	return []string{"--disable-admission-plugins=ServiceAccount"}
}
