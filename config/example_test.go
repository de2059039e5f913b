package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rotahq/rota/config"
)

// A worker directory in Machina's layout: _defaults.json, and one file per
// kind merged over it. A kind without a file gets the defaults; a bad file
// is reported with its path and left out.
func ExampleLoadWorkerDir() {
	dir, err := os.MkdirTemp("", "workers")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"_defaults.json":    `{"log_level": "info", "max_workers": 4, "timeout": "10m"}`,
		"analysis.ssi.json": `{"log_level": "DEBUG", "interval": "minutely", "new_value": "I'm a new configuration!"}`,
		"divvy.sync.json":   `{"max_workers": "ten"}`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			panic(err)
		}
	}

	workers, errs := config.LoadWorkerDir(dir)
	for _, err := range errs {
		var fe *config.FileError
		if errors.As(err, &fe) {
			rel, _ := filepath.Rel(dir, fe.Path)
			fmt.Println("rejected:", rel)
		}
	}
	fmt.Println("kinds:", workers.Kinds())

	ssi := workers.Kind("analysis.ssi")
	var newValue string
	if err := ssi.Get("new_value", &newValue); err != nil {
		panic(err)
	}
	fmt.Println("analysis.ssi:", *ssi.LogLevel, *ssi.MaxWorkers, *ssi.Timeout, *ssi.Interval, newValue)

	other := workers.Kind("no.file")
	fmt.Println("no.file:", *other.LogLevel, *other.MaxWorkers, other.Interval == nil)
	// Output:
	// rejected: divvy.sync.json
	// kinds: [analysis.ssi]
	// analysis.ssi: DEBUG 4 10m0s minutely I'm a new configuration!
	// no.file: INFO 4 true
}

// Layering: built-in defaults, then ROTA_* variables; flags come last (see
// Config.BindFlags).
func ExampleFromEnv() {
	env := map[string]string{
		"ROTA_QUEUES":         "default=100,mail=10",
		"ROTA_LEASE_DURATION": "abc",
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	fmt.Println(err)
	fmt.Println(config.FormatQueues(cfg.Queues), cfg.LeaseDuration)
	// Output:
	// ROTA_LEASE_DURATION: "abc" is not a duration (like 30s)
	// default=100,mail=10 30s
}

func ExampleParseDatabaseURL() {
	for _, u := range []string{"postgres://db.internal/rota", "sqlite:///var/lib/rota.db", "sqlite:data/rota.db", "rota.db"} {
		driver, target, _ := config.ParseDatabaseURL(u)
		fmt.Println(driver, target)
	}
	// Output:
	// postgres postgres://db.internal/rota
	// sqlite /var/lib/rota.db
	// sqlite data/rota.db
	// sqlite rota.db
}
