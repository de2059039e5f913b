package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/spf13/pflag"

	"github.com/rotahq/rota/internal/tlstest"
)

func TestSinkSettings(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(envOf(map[string]string{
		EnvEventsFormat: "OMA", EnvEventsKinds: " a.b , c,", EnvEventsQueues: "q1", EnvEventsBatch: "500",
		EnvWebhookURL: "https://hooks.example/rota", EnvWebhookSecret: "s3cret",
		EnvNATSURL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222", EnvNATSSubject: "oma.out", EnvNATSJetStream: "on",
		EnvNATSAbortSubject: "OFF", EnvNATSAbortGroup: "oma-prod", EnvKafkaBrokers: "k1:9092, k2:9092", EnvKafkaTopic: "output",
		EnvKafkaAbortTopic: "broadcast", EnvKafkaGroup: "oma-workers", EnvAbortKeyField: "analysis_id",
		EnvKafkaTLS: "on", EnvKafkaSASL: "SCRAM-SHA-512", EnvKafkaUser: "rota", EnvKafkaPassword: "pw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Sinks{EventsFormat: "oma", EventsKinds: []string{"a.b", "c"}, EventsQueues: []string{"q1"}, EventsBatch: 500,
		WebhookURL: "https://hooks.example/rota", WebhookSecret: "s3cret",
		NATSURL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222", NATSSubject: "oma.out", NATSJetStream: true, NATSAbortSubject: "off", NATSAbortGroup: "oma-prod",
		KafkaBrokers: []string{"k1:9092", "k2:9092"}, KafkaTopic: "output", KafkaAbortTopic: "broadcast", KafkaGroup: "oma-workers",
		KafkaTLS: true, KafkaSASL: "scram-sha-512", KafkaUser: "rota", KafkaPassword: "pw", AbortKeyField: "analysis_id"}
	if !reflect.DeepEqual(c.Sinks, want) {
		t.Errorf("sinks = %+v\nwant    %+v", c.Sinks, want)
	}
	if w := c.Sinks.Warnings(); len(w) != 0 {
		t.Errorf("Warnings of a sound configuration: %q", w)
	}
	if w := Default().Sinks.Warnings(); len(w) != 0 {
		t.Errorf("Warnings of the defaults: %q", w)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := c.Sinks.CheckSinks(); err != nil {
		t.Errorf("CheckSinks: %v", err)
	}
}

func TestSinkSettingsRejected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env, value, want string
	}{
		{EnvEventsFormat, "xml", `ROTA_EVENTS_FORMAT: "xml" is not "json" or "oma"`},
		{EnvWebhookURL, "ftp://h/x", `ROTA_WEBHOOK_URL: "ftp://h/…" is not an http or https URL`},
		{EnvWebhookURL, "https://u:hunter2@h/x y\x7f", `ROTA_WEBHOOK_URL: "https://xxxxx@h/x y\x7f" is not an http or https URL`},
		{EnvNATSURL, "127.0.0.1:4222", `ROTA_NATS_URL: "127.0.0.1:4222" is not a list of NATS URLs`},
		{EnvNATSURL, "nats://hunter2@h1:4222,nats://u:hunter2@h2:4222,bogus", `ROTA_NATS_URL: "nats://xxxxx@h1:4222,nats://xxxxx@h2:4222,bogus" is not`},
		{EnvNATSSubject, "rota.*", `ROTA_NATS_SUBJECT: "rota.*" is not a NATS subject without wildcards`},
		{EnvNATSSubject, "rota..x", `is not a NATS subject`},
		{EnvNATSAbortSubject, "a b", `ROTA_NATS_ABORT_SUBJECT: "a b" is not a NATS subject`},
		{EnvWebhookURL, "http://127.0.0.1:99999/x", `its port is not 1 to 65535`},
		{EnvNATSJetStream, "maybe", `ROTA_NATS_JETSTREAM: "maybe" is not "on" or "off"`},
		{EnvKafkaBrokers, "k1:9092,k2", `ROTA_KAFKA_BROKERS: "k1:9092,k2" is not host:port (item "k2")`},
		{EnvKafkaTopic, "out put", `ROTA_KAFKA_TOPIC: "out put" is not a Kafka name`},
		{EnvEventsKinds, "a,\x01", `ROTA_EVENTS_KINDS: "a,\x01" is not a name`},
		{EnvKafkaSASL, "gssapi", `ROTA_KAFKA_SASL: "gssapi" is not "plain", "scram-sha-256" or "scram-sha-512"`},
		{EnvEventsBatch, "0", `ROTA_EVENTS_BATCH: "0" is less than 1`},
		{EnvEventsBatch, "ten", `ROTA_EVENTS_BATCH: "ten" is not a whole number`},
	} {
		_, err := FromEnv(envOf(map[string]string{tc.env: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want one containing %q", tc.env, tc.value, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.env, err)
		}
	}
	for _, tc := range []struct {
		s    Sinks
		want string
	}{
		{Sinks{KafkaTopic: "t"}, "ROTA_KAFKA_BROKERS"},
		{Sinks{KafkaBrokers: []string{"k:1"}}, "ROTA_KAFKA_TOPIC"},
		{Sinks{WebhookSecret: "s"}, "ROTA_WEBHOOK_URL"},
		{Sinks{NATSAbortSubject: "rota.abort"}, "ROTA_NATS_URL"},
		{Sinks{KafkaBrokers: []string{"k:1"}, KafkaTopic: "t", KafkaPassword: "p"}, "ROTA_KAFKA_SASL"},
		{Sinks{WebhookURL: "https://h/x", EventsBatch: 10001}, `ROTA_EVENTS_BATCH: "10001" is over 10000`},
	} {
		if err := tc.s.CheckSinks(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSinks(%+v) = %v, want an error naming %s", tc.s, err, tc.want)
		}
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, urls, origin string }{
		{"nats://TOKEN@h:4222", "nats://xxxxx@h:4222", "nats://xxxxx@h:4222"},
		{"nats://u:pw@h1:4222,nats://h2:4222, nats://v:pw2@h3", "nats://xxxxx@h1:4222,nats://h2:4222, nats://xxxxx@h3", ""},
		{"https://hooks.example/services/T0/SECRET?token=Q", "https://hooks.example/services/T0/SECRET?token=Q", "https://hooks.example/…"},
		{"https://hooks.example", "https://hooks.example", "https://hooks.example"},
		{"rota.db", "rota.db", "rota.db"},
	} {
		if got := RedactURLs(tc.in); got != tc.urls {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.urls)
		}
		if tc.origin != "" {
			if got := URLOrigin(tc.in); got != tc.origin {
				t.Errorf("URLOrigin(%q) = %q, want %q", tc.in, got, tc.origin)
			}
		}
	}
	// --help shows no credential that the environment holds.
	c, err := FromEnv(envOf(map[string]string{EnvNATSURL: "nats://TOKEN@h:4222", EnvWebhookURL: "https://h/SECRETPATH",
		EnvDatabaseURL: "postgres://u:hunter2@db/rota", EnvKafkaPassword: "hunter2", EnvWebhookSecret: "hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
	c.BindFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		for _, secret := range []string{"TOKEN", "SECRETPATH", "hunter2"} {
			if strings.Contains(f.DefValue, secret) {
				t.Errorf("--%s shows %q as its default", f.Name, f.DefValue)
			}
		}
	})
	if c.Sinks.NATSURL != "nats://TOKEN@h:4222" {
		t.Errorf("binding the flags changed the value: %q", c.Sinks.NATSURL)
	}
}

func TestSinkWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvEventsFormat: "oma"}, "none is set"},
		{map[string]string{EnvEventsKinds: "a"}, "none is set"},
		{map[string]string{EnvEventsBatch: "10"}, "none is set"},
		{map[string]string{EnvNATSJetStream: "on"}, "no events go to NATS"},
		{map[string]string{EnvNATSURL: "nats://h:4222", EnvNATSSubject: "off"}, "are both off"},
		{map[string]string{EnvAbortKeyField: "analysis_id"}, "no abort subject or topic"},
		{map[string]string{EnvKafkaBrokers: "k:9092", EnvKafkaTopic: "t", EnvKafkaGroup: "g"}, EnvKafkaAbortTopic + " is not"},
		{map[string]string{EnvKafkaBrokers: "k:9092", EnvKafkaTopic: "t", EnvKafkaSASL: "plain", EnvKafkaUser: "u"}, "in clear"},
		{map[string]string{EnvNATSNKey: "sinks_test.go"}, "NATS credentials or TLS files are set, but " + EnvNATSURL + " is not"},
		{map[string]string{EnvKafkaTLSCA: "sinks_test.go"}, "Kafka TLS is set, but " + EnvKafkaBrokers + " is not"},
	} {
		c, err := FromEnv(envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Join(c.Sinks.Warnings(), "; "); !strings.Contains(w, tc.want) {
			t.Errorf("%v: warnings %q, want one containing %q", tc.env, w, tc.want)
		}
	}
}

// TestSinkTLSFiles: the NATS and Kafka TLS and credential files are
// read by CheckSinks (rota serve's check), not when the settings are read
// (a command that uses no sink runs without them): a missing file, a
// directory, a CA that is not PEM, a certificate without its key or with
// another's, a credentials or NKey file that holds none, both of them;
// each error names its variable. Sound files give TLS configurations that
// hold them.
func TestSinkTLSFiles(t *testing.T) {
	t.Parallel()
	f := tlstest.New(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	seed, creds := filepath.Join(dir, "user.nk"), filepath.Join(dir, "user.creds")
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seedBytes, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{notPEM: []byte("hello"), seed: seedBytes,
		creds: []byte("-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n" +
			"-----BEGIN USER NKEY SEED-----\n" + string(seedBytes) + "\n------END USER NKEY SEED------\n")} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.pem")
	// Read without the files: only CheckSinks looks at them.
	if _, err := FromEnv(envOf(map[string]string{EnvNATSTLSCA: missing, EnvKafkaTLSKey: dir})); err != nil {
		t.Errorf("FromEnv with files that do not exist: %v", err)
	}
	nats := func(s Sinks) Sinks { s.NATSURL = "nats://127.0.0.1:4222"; return s }
	kafka := func(s Sinks) Sinks { s.KafkaBrokers, s.KafkaTopic = []string{"k:1"}, "t"; return s }
	for _, tc := range []struct {
		s    Sinks
		want string
	}{
		{nats(Sinks{NATSTLSCA: missing}), `ROTA_NATS_TLS_CA: "` + missing + `" is not a readable file (no such file or directory)`},
		{nats(Sinks{NATSTLSCA: dir}), `ROTA_NATS_TLS_CA: "` + dir + `" is not a regular file`},
		{nats(Sinks{NATSTLSCA: notPEM}), `ROTA_NATS_TLS_CA: "` + notPEM + `" is not a PEM file of certificates`},
		{nats(Sinks{NATSTLSCert: f.ClientCert}), `ROTA_NATS_TLS_KEY: "" is empty, but ROTA_NATS_TLS_CERT is set`},
		{nats(Sinks{NATSTLSKey: f.ClientKey}), `ROTA_NATS_TLS_CERT: "" is empty, but ROTA_NATS_TLS_KEY is set`},
		{nats(Sinks{NATSTLSCert: notPEM, NATSTLSKey: f.ClientKey}), `ROTA_NATS_TLS_CERT: "` + notPEM + `" is not a PEM certificate`},
		{nats(Sinks{NATSTLSCert: f.ClientCert, NATSTLSKey: f.ClientCert}), `ROTA_NATS_TLS_KEY: "` + f.ClientCert + `" is not a PEM private key`},
		{nats(Sinks{NATSTLSCert: f.ClientCert, NATSTLSKey: f.ServerKey}), `ROTA_NATS_TLS_KEY: "` + f.ServerKey + `" is not the key of the certificate in ROTA_NATS_TLS_CERT`},
		{nats(Sinks{NATSCreds: missing}), `ROTA_NATS_CREDS: "` + missing + `" is not a readable file`},
		{nats(Sinks{NATSCreds: seed}), `ROTA_NATS_CREDS: "` + seed + `" is not a NATS credentials file: no user JWT`},
		{nats(Sinks{NATSNKey: notPEM}), `ROTA_NATS_NKEY: "` + notPEM + `" is not a file of a user NKey seed`},
		{nats(Sinks{NATSCreds: creds, NATSNKey: seed}), `ROTA_NATS_NKEY: "` + seed + `" is set, and so is ROTA_NATS_CREDS`},
		{kafka(Sinks{KafkaTLSCA: missing}), `ROTA_KAFKA_TLS_CA: "` + missing + `" is not a readable file`},
		{kafka(Sinks{KafkaTLSCA: notPEM}), `ROTA_KAFKA_TLS_CA: "` + notPEM + `" is not a PEM file`},
		{kafka(Sinks{KafkaTLSKey: f.ClientKey}), `ROTA_KAFKA_TLS_CERT: "" is empty`},
		{kafka(Sinks{KafkaTLSCert: f.ClientCert, KafkaTLSKey: missing}), `ROTA_KAFKA_TLS_KEY: "` + missing + `" is not a readable file`},
	} {
		if err := tc.s.CheckSinks(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSinks(%+v) = %v, want an error containing %q", tc.s, err, tc.want)
		}
	}

	for _, auth := range []map[string]string{{EnvNATSNKey: seed}, {EnvNATSCreds: creds}} {
		env := map[string]string{EnvNATSURL: "tls://127.0.0.1:4222", EnvNATSTLSCA: f.CA,
			EnvNATSTLSCert: f.ClientCert, EnvNATSTLSKey: f.ClientKey,
			EnvKafkaBrokers: "k:9092", EnvKafkaTopic: "t", EnvKafkaTLSCA: f.CA}
		maps.Copy(env, auth)
		c, err := FromEnv(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Sinks.CheckSinks(); err != nil {
			t.Fatalf("CheckSinks with %v: %v", auth, err)
		}
		if w := c.Sinks.Warnings(); len(w) != 0 {
			t.Errorf("Warnings: %q", w)
		}
		nt, err := c.Sinks.NATSTLSConfig()
		if err != nil || nt == nil || nt.RootCAs == nil || len(nt.Certificates) != 1 {
			t.Errorf("NATSTLSConfig = %+v, %v; want the CA and one client certificate", nt, err)
		}
		kt, err := c.Sinks.KafkaTLSConfig()
		if err != nil || kt == nil || kt.RootCAs == nil || len(kt.Certificates) != 0 {
			t.Errorf("KafkaTLSConfig = %+v, %v; want the CA and no client certificate", kt, err)
		}
	}
	// Without files: no TLS configuration, unless ROTA_KAFKA_TLS is on
	// (the system's roots).
	if nt, err := Default().Sinks.NATSTLSConfig(); nt != nil || err != nil {
		t.Errorf("NATSTLSConfig of the defaults = %+v, %v; want nil", nt, err)
	}
	if kt, err := (Sinks{KafkaTLS: true}).KafkaTLSConfig(); err != nil || kt == nil || kt.RootCAs != nil {
		t.Errorf("KafkaTLSConfig with ROTA_KAFKA_TLS=on = %+v, %v; want one with the system's roots", kt, err)
	}
}
