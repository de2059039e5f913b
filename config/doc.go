// Package config holds rota's configuration: the node's settings, read from
// defaults, then environment variables (ROTA_*), then command-line flags; and
// the per-worker JSON files (Machina's configs/workers/<Kind>.json), merged
// over a _defaults.json file and reloaded while the node runs.
//
// Node settings are layered like this:
//
//	cfg, err := config.FromEnv(os.Getenv) // Default() overlaid with ROTA_* variables
//	if err != nil { ... }                 // a *FieldError names the variable
//	fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
//	cfg.BindFlags(fs)                     // flag defaults are the values so far
//	if err := fs.Parse(os.Args[1:]); err != nil { ... }
//	if err := cfg.Validate(); err != nil { ... }
//
// The HTTP API's bearer tokens (ROTA_TOKENS, ROTA_TOKENS_FILE) are
// name:role:secret; LoadTokens reads both, and no error or flag default ever
// shows a secret.
//
// Worker files live in one directory (Config.WorkersDir). Each <kind>.json is
// merged key by key over _defaults.json: a key in the kind's file replaces the
// same key of the defaults, and a key set to null removes it. Known keys
// (log_level, max_workers, timeout, max_attempts, queue, priority, exec,
// interval, retention, global_max_workers, rate_limit) are typed in
// WorkerConfig; every other key is kept raw in WorkerConfig.Custom for the
// worker to decode. LoadWorkerDir reads the directory once; a Watcher keeps
// it current, and when a file breaks it keeps the last good version of that
// file and reports the problem.
package config
