package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	const rev = "1f34f8f9771e1e916b8b1244a15b3d2e67dc0adc"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"}, {Key: "GOARCH", Value: "amd64"}, {Key: "GOOS", Value: "linux"},
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-02T08:43:16Z"}, {Key: "vcs.modified", Value: modified},
		}
	}
	noVCS := []debug.BuildSetting{{Key: "GOARCH", Value: "arm64"}, {Key: "GOOS", Value: "darwin"}}
	main := func(version string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Path: ModulePath + "/cmd/rota",
			Main: debug.Module{Path: ModulePath, Version: version}, Settings: settings}
	}
	dep := func(d *debug.Module) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Path: "example.com/app",
			Main:     debug.Module{Path: "example.com/app", Version: "(devel)"},
			Deps:     []*debug.Module{{Path: "example.com/other", Version: "v9.9.9"}, d},
			Settings: vcs("true")}
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want Info
	}{
		{"no build info", nil, Info{Version: Unknown, Module: ModulePath}},
		{"go build without VCS stamping", main("(devel)", noVCS),
			Info{Version: Devel, Module: ModulePath, ModuleVersion: "(devel)", GoVersion: "go1.26.8", Platform: "darwin/arm64"}},
		{"empty version", main("", nil),
			Info{Version: Devel, Module: ModulePath, GoVersion: "go1.26.8"}},
		{"revision, no module version", main("(devel)", vcs("false")),
			Info{Version: "devel+1f34f8f9771e", Module: ModulePath, ModuleVersion: "(devel)", Revision: rev,
				RevisionTime: "2026-12-02T08:43:16Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"revision of a modified checkout", main("(devel)", vcs("true")),
			Info{Version: "devel+1f34f8f9771e+dirty", Module: ModulePath, ModuleVersion: "(devel)", Revision: rev,
				RevisionTime: "2026-12-02T08:43:16Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"pseudo-version from the VCS", main("v0.0.0-20261202084316-1f34f8f9771e+dirty", vcs("true")),
			Info{Version: "v0.0.0-20261202084316-1f34f8f9771e+dirty", Module: ModulePath,
				ModuleVersion: "v0.0.0-20261202084316-1f34f8f9771e+dirty", Revision: rev,
				RevisionTime: "2026-12-02T08:43:16Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"tag (go install @v1.2.0)", main("v1.2.0", noVCS),
			Info{Version: "v1.2.0", Module: ModulePath, ModuleVersion: "v1.2.0", GoVersion: "go1.26.8", Platform: "darwin/arm64"}},
		{"dependency: its version, not the program's revision", dep(&debug.Module{Path: ModulePath, Version: "v1.3.1"}),
			Info{Version: "v1.3.1", Module: ModulePath, ModuleVersion: "v1.3.1", GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"dependency replaced by a version",
			dep(&debug.Module{Path: ModulePath, Version: "v1.3.1", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.3.2"}}),
			Info{Version: "v1.3.2", Module: ModulePath, ModuleVersion: "v1.3.2", GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"dependency replaced by a directory",
			dep(&debug.Module{Path: ModulePath, Version: "v1.3.1", Replace: &debug.Module{Path: "../rota"}}),
			Info{Version: Devel, Module: ModulePath, ModuleVersion: "(devel)", GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"not in the build", dep(&debug.Module{Path: "example.com/unrelated", Version: "v0.1.0"}),
			Info{Version: Devel, Module: ModulePath, GoVersion: "go1.26.8", Platform: "linux/amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := FromBuildInfo(tc.bi); got != tc.want {
				t.Errorf("FromBuildInfo:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestShort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   Info
		want string
	}{
		{Info{}, ""},
		{Info{Modified: true}, ""},
		{Info{Revision: "1f34f8f9771e1e916b8b"}, "1f34f8f9771e"},
		{Info{Revision: "1f34f8f9771e1e916b8b", Modified: true}, "1f34f8f9771e+dirty"},
		{Info{Revision: "abc"}, "abc"},
	} {
		if got := tc.in.Short(); got != tc.want {
			t.Errorf("%+v.Short() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRead: the test binary has build information, and rota is its main
// module, which `go test` does not version.
func TestRead(t *testing.T) {
	t.Parallel()
	got := Read()
	if got.Module != ModulePath || got.ModuleVersion != "(devel)" || got.GoVersion == "" ||
		(got.Version != Devel && got.Version != Devel+"+"+got.Short()) {
		t.Errorf("Read() = %+v, want rota %s (or %s+REVISION)", got, Devel, Devel)
	}
}
