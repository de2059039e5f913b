// Package version tells which rota runs, from the build information that
// Go records in every binary: the version string that `rota version`
// prints and that each node registers in the node registry (`rota nodes
// ls`) are both Info.Version, computed here and nowhere else.
package version

import (
	"runtime/debug"
)

// ModulePath is rota's module, looked up in the build information.
const ModulePath = "github.com/rotahq/rota"

// Devel is the Version of a build that records no module version: one
// from a source checkout that Go did not stamp with its VCS revision (go
// run, go build -buildvcs=false), with "+REVISION" in the rare build that
// has the revision but no version.
const Devel = "devel"

// Unknown is the Version of a binary without build information.
const Unknown = "unknown"

// shortRevision is how many characters of a revision Version and Short
// keep: as many as a Go pseudo-version has.
const shortRevision = 12

// Info is the version of rota in a binary, and what its build recorded.
type Info struct {
	// Version identifies the build in one word: the module version when
	// the build has one (a tag such as "v1.2.0", or the pseudo-version Go
	// derives from the VCS, such as "v0.0.0-20261202084316-1f34f8f9771e",
	// with "+dirty" for uncommitted changes), else "devel+" and the short
	// revision (and "+dirty") when Go recorded it, else Devel; Unknown
	// without build information.
	Version string `json:"version"`
	// Module is ModulePath; ModuleVersion its version as Go recorded it
	// ("(devel)" for a build of a checkout that Go did not version).
	Module        string `json:"module"`
	ModuleVersion string `json:"module_version,omitempty"`
	// Revision is the VCS revision of the checkout rota was built from,
	// RevisionTime the time of that commit (RFC 3339, UTC), and Modified
	// whether the checkout had uncommitted changes. Go records them when
	// it builds in a checkout with VCS stamping on (-buildvcs; its default,
	// "auto", stamps a go build but not a go run, nor a test binary), and
	// derives ModuleVersion from them. They are rota's only when rota is
	// the main module: when rota is a dependency of another program they
	// would be that program's, and are left out.
	Revision     string `json:"revision,omitempty"`
	RevisionTime string `json:"revision_time,omitempty"`
	Modified     bool   `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary; Platform its
	// GOOS/GOARCH.
	GoVersion string `json:"go_version,omitempty"`
	Platform  string `json:"platform,omitempty"`
}

// Read returns the version of rota in the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo returns the version of rota that bi (nil: none) records,
// whether rota is bi's main module (the rota command) or a dependency (a
// program that embeds rota).
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: ModulePath}
	if bi == nil {
		in.Version = Unknown
		return in
	}
	in.GoVersion = bi.GoVersion
	main := bi.Main.Path == ModulePath
	if main {
		in.ModuleVersion = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path != ModulePath {
				continue
			}
			if d.Replace != nil {
				d = d.Replace
			}
			in.ModuleVersion = d.Version
			if in.ModuleVersion == "" { // replaced by a directory
				in.ModuleVersion = "(devel)"
			}
		}
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		case "vcs.revision":
			if main {
				in.Revision = s.Value
			}
		case "vcs.time":
			if main {
				in.RevisionTime = s.Value
			}
		case "vcs.modified":
			if main {
				in.Modified = s.Value == "true"
			}
		}
	}
	if goos != "" && goarch != "" {
		in.Platform = goos + "/" + goarch
	}
	switch {
	case in.ModuleVersion != "" && in.ModuleVersion != "(devel)":
		in.Version = in.ModuleVersion
	case in.Revision != "":
		in.Version = Devel + "+" + in.Short()
	default:
		in.Version = Devel
	}
	return in
}

// Short is the revision cut to its first 12 characters, with "+dirty" when
// the checkout was modified; "" when no revision was recorded.
func (in Info) Short() string {
	if in.Revision == "" {
		return ""
	}
	s := in.Revision[:min(len(in.Revision), shortRevision)]
	if in.Modified {
		s += "+dirty"
	}
	return s
}
