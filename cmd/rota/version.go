package main

import (
	"github.com/spf13/cobra"

	"github.com/rotahq/rota/internal/version"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this rota's version: module version, VCS revision and its time, Go version",
		Long: "rota version prints the version of this rota binary (the one that `rota nodes ls` shows\n" +
			"for each node), the module version Go recorded, the VCS revision the binary was built from\n" +
			"with its commit time and \"+dirty\" for uncommitted changes when Go recorded them, and the Go\n" +
			"version and platform. go build in a git checkout records the revision and a pseudo-version\n" +
			"(v0.0.0-DATE-REVISION); go run, and go build with -buildvcs=false, record neither: the\n" +
			"version is then \"devel\" (\"devel+REVISION\" when only the revision was recorded).\n" +
			"It needs no store, and ignores --server. `rota --version` prints the version alone.",
		Args: rangeArgs(0, 0),
		// The version of a binary is worth printing even when the
		// environment holds a bad ROTA_* setting (for a bug report about
		// it): the root's check of the configuration is not run.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(*cobra.Command, []string) error {
			return a.printVersion(version.Read())
		},
	}
}

// printVersion prints v as JSON or as key: value lines.
func (a *app) printVersion(v version.Info) error {
	if a.json {
		return printJSON(a.stdout, v)
	}
	module := v.Module
	if v.ModuleVersion != "" {
		module += " " + v.ModuleVersion
	}
	rows := [][]string{{"version:", v.Version}, {"module:", module}}
	if v.Revision != "" {
		rows = append(rows, []string{"revision:", v.Short()})
		if v.RevisionTime != "" {
			rows = append(rows, []string{"revision time:", v.RevisionTime})
		}
	}
	goVersion := orDash(v.GoVersion)
	if v.Platform != "" {
		goVersion += " " + v.Platform
	}
	rows = append(rows, []string{"go:", goVersion})
	return table(a.stdout, nil, rows)
}
