// Command tracecart-scenario switches the demo's fault scenarios on and off, by editing the flag
// file the running services re-read (infra/flags/demo.flagd.json, in flagd's format; see
// shared/featureflag). Each scenario is one flag and has a walkthrough in docs/walkthroughs.
//
//	tracecart-scenario list              every scenario, its flag and whether it is on
//	tracecart-scenario <name> on|off     switch one scenario
//	tracecart-scenario all off           switch every scenario off
//
// From the repository root, `make scenario NAME=<name> STATE=on|off` runs it. -file chooses
// another flag file. The file is rewritten whole (to a temporary file renamed over it), in one
// canonical layout, so that switching everything off gives back the file in the repository.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	fs := flag.NewFlagSet("tracecart-scenario", flag.ContinueOnError)
	file := fs.String("file", "infra/flags/demo.flagd.json", "the flag file the demo's services read")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tracecart-scenario [-file F] list | <scenario> on|off | all off")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(fs.Args(), *file, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tracecart-scenario:", err)
		os.Exit(1)
	}
}

func run(args []string, file string, out io.Writer) error {
	switch {
	case len(args) == 1 && args[0] == "list":
		return list(file, out)
	case len(args) == 2 && (args[1] == "on" || args[1] == "off"):
		return set(file, args[0], args[1] == "on", out)
	default:
		return fmt.Errorf("want `list`, `<scenario> on|off` or `all off`, got %q", args)
	}
}
