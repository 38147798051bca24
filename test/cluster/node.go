package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// nodeCommands are the node components this binary also runs when its first argument names one
// (`flagwright-cluster kubelet --config=...`). One multi-call binary, as hyperkube and k3s do,
// compiles and links the Kubernetes packages they share with the API server once instead of five
// times.
var nodeCommands = map[string]func() *cobra.Command{
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              func() *cobra.Command { return proxy.NewProxyCommand() },
	"kube-controller-manager": func() *cobra.Command { return controllermanager.NewControllerManagerCommand() },
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

// runNodeCommand runs the component named by the first argument, if any, and exits with its code.
func runNodeCommand() {
	if len(os.Args) < 2 {
		return
	}
	newCommand, ok := nodeCommands[os.Args[1]]
	if !ok {
		return
	}
	command := newCommand()
	command.SetArgs(os.Args[2:])
	os.Exit(cli.Run(command))
}
