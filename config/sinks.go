package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/nats-io/nkeys"
)

// Settings of the event sinks (package events): where rota serve relays
// the durable event log, and where it listens for abort messages.
const (
	// EnvEventsFormat is the format of the relayed events: json or oma.
	EnvEventsFormat = "ROTA_EVENTS_FORMAT"
	// EnvEventsKinds and EnvEventsQueues limit the relayed job events to
	// these kinds and queues (comma lists; empty: all).
	EnvEventsKinds  = "ROTA_EVENTS_KINDS"
	EnvEventsQueues = "ROTA_EVENTS_QUEUES"
	// EnvEventsBatch bounds the events of one webhook POST, NATS flush or
	// Kafka produce (1 to MaxEventsBatch).
	EnvEventsBatch = "ROTA_EVENTS_BATCH"
	// EnvWebhookURL is the URL the events are POSTed to (empty: none).
	EnvWebhookURL = "ROTA_WEBHOOK_URL"
	// EnvWebhookSecret signs each POST (the Rota-Signature header).
	EnvWebhookSecret = "ROTA_WEBHOOK_SECRET"
	// EnvNATSURL is the NATS server(s) of the NATS sink and abort
	// listener (comma list of nats:// URLs; empty: no NATS).
	EnvNATSURL = "ROTA_NATS_URL"
	// EnvNATSSubject is the prefix of the subjects events go to (off: no
	// events to NATS).
	EnvNATSSubject = "ROTA_NATS_SUBJECT"
	// EnvNATSJetStream publishes to JetStream with acknowledgements (on)
	// instead of core NATS (off).
	EnvNATSJetStream = "ROTA_NATS_JETSTREAM"
	// EnvNATSAbortSubject is the subject of abort messages (off, the
	// default: none). Anyone who may publish on it can abort running jobs.
	EnvNATSAbortSubject = "ROTA_NATS_ABORT_SUBJECT"
	// EnvNATSAbortGroup is the queue group of the abort listeners: one
	// node of the group gets each message (give each deployment its own).
	EnvNATSAbortGroup = "ROTA_NATS_ABORT_GROUP"
	// EnvNATSCreds is a NATS credentials file (user JWT and NKey seed, as
	// nsc writes it) the NATS connections authenticate with.
	EnvNATSCreds = "ROTA_NATS_CREDS"
	// EnvNATSNKey is a file holding the user NKey seed (SU...) the NATS
	// connections authenticate with; not with EnvNATSCreds.
	EnvNATSNKey = "ROTA_NATS_NKEY"
	// EnvNATSTLSCA is a PEM file of the certificate authorities that
	// verify the NATS server (setting it, or EnvNATSTLSCert, makes the
	// connections TLS; without them a tls:// URL uses the system's roots).
	EnvNATSTLSCA = "ROTA_NATS_TLS_CA"
	// EnvNATSTLSCert and EnvNATSTLSKey are the PEM certificate and key the
	// NATS connections present to a server that verifies its clients.
	EnvNATSTLSCert = "ROTA_NATS_TLS_CERT"
	EnvNATSTLSKey  = "ROTA_NATS_TLS_KEY"
	// EnvKafkaBrokers are the seed brokers of the Kafka sink and abort
	// consumer (comma list of host:port; empty: no Kafka).
	EnvKafkaBrokers = "ROTA_KAFKA_BROKERS"
	// EnvKafkaTopic is the topic events go to (empty: no Kafka sink).
	EnvKafkaTopic = "ROTA_KAFKA_TOPIC"
	// EnvKafkaAbortTopic is the topic of abort messages (empty: none).
	EnvKafkaAbortTopic = "ROTA_KAFKA_ABORT_TOPIC"
	// EnvKafkaGroup is the consumer group of the abort consumer.
	EnvKafkaGroup = "ROTA_KAFKA_GROUP"
	// EnvKafkaTLS makes the Kafka connections TLS (on), verified against
	// the system's roots.
	EnvKafkaTLS = "ROTA_KAFKA_TLS"
	// EnvKafkaTLSCA is a PEM file of the certificate authorities that
	// verify the Kafka brokers instead of the system's roots;
	// EnvKafkaTLSCert and EnvKafkaTLSKey the client certificate and key
	// for brokers that verify their clients. Setting any of them makes the
	// Kafka connections TLS.
	EnvKafkaTLSCA   = "ROTA_KAFKA_TLS_CA"
	EnvKafkaTLSCert = "ROTA_KAFKA_TLS_CERT"
	EnvKafkaTLSKey  = "ROTA_KAFKA_TLS_KEY"
	// EnvKafkaSASL is the SASL mechanism of the Kafka connections: plain,
	// scram-sha-256 or scram-sha-512 (empty: none), with EnvKafkaUser and
	// EnvKafkaPassword.
	EnvKafkaSASL     = "ROTA_KAFKA_SASL"
	EnvKafkaUser     = "ROTA_KAFKA_USER"
	EnvKafkaPassword = "ROTA_KAFKA_PASSWORD"
	// EnvAbortKeyField is the field of an abort message that holds a job
	// key (OMA: analysis_id).
	EnvAbortKeyField = "ROTA_ABORT_KEY_FIELD"
)

// Defaults of the sink settings.
const (
	DefaultEventsFormat = "json"
	DefaultEventsBatch  = 100
	// MaxEventsBatch is the most events a relay reads at once (the
	// store's limit, store.MaxEventRead).
	MaxEventsBatch          = 10000
	DefaultNATSSubject      = "rota.events"
	DefaultNATSAbortSubject = SinkOff
	DefaultNATSAbortGroup   = "rota"
	DefaultKafkaGroup       = "rota"
	DefaultAbortKeyField    = "key"
	// SinkOff turns an abort subject off.
	SinkOff = "off"
)

// Sinks are the settings of the event sinks and abort listeners.
type Sinks struct {
	EventsFormat     string
	EventsKinds      []string
	EventsQueues     []string
	EventsBatch      int
	WebhookURL       string
	WebhookSecret    string
	NATSURL          string
	NATSSubject      string
	NATSJetStream    bool
	NATSAbortSubject string
	NATSAbortGroup   string
	NATSCreds        string
	NATSNKey         string
	NATSTLSCA        string
	NATSTLSCert      string
	NATSTLSKey       string
	KafkaBrokers     []string
	KafkaTopic       string
	KafkaAbortTopic  string
	KafkaGroup       string
	KafkaTLS         bool
	KafkaTLSCA       string
	KafkaTLSCert     string
	KafkaTLSKey      string
	KafkaSASL        string
	KafkaUser        string
	KafkaPassword    string
	AbortKeyField    string
}

// defaultSinks are the sink defaults: no sink at all.
func defaultSinks() Sinks {
	return Sinks{EventsFormat: DefaultEventsFormat, EventsBatch: DefaultEventsBatch, NATSSubject: DefaultNATSSubject, NATSAbortSubject: DefaultNATSAbortSubject,
		NATSAbortGroup: DefaultNATSAbortGroup, KafkaGroup: DefaultKafkaGroup, AbortKeyField: DefaultAbortKeyField}
}

// sinkSettings are the settings of the event sinks.
func (c *Config) sinkSettings() []setting {
	s := &c.Sinks
	return []setting{
		{env: EnvEventsFormat, flag: "events-format", usage: "format of the events sent to webhooks, NATS and Kafka: json or oma",
			value: &stringValue{p: &s.EventsFormat, norm: normEventsFormat}},
		{env: EnvEventsKinds, flag: "events-kinds", usage: "send only the events of these kinds to webhooks, NATS and Kafka (comma list; empty: all)",
			value: &listValue{p: &s.EventsKinds, item: normName}},
		{env: EnvEventsQueues, flag: "events-queues", usage: "send only the events of these queues to webhooks, NATS and Kafka (comma list; empty: all)",
			value: &listValue{p: &s.EventsQueues, item: normName}},
		{env: EnvEventsBatch, flag: "events-batch", usage: fmt.Sprintf("most events in one webhook POST, NATS flush or Kafka produce (1 to %d)", MaxEventsBatch),
			value: &intValue{p: &s.EventsBatch}},
		{env: EnvWebhookURL, flag: "webhook-url", hide: URLOrigin, usage: "POST every job event, in batches, to this URL (empty: none)",
			value: &stringValue{p: &s.WebhookURL, norm: normWebhookURL}},
		{env: EnvWebhookSecret, flag: "webhook-secret", hide: func(string) string { return "xxxxx" },
			usage: "sign webhook POSTs with this secret (header Rota-Signature); prefer the variable",
			value: &secretValue{p: &s.WebhookSecret}},
		{env: EnvNATSURL, flag: "nats-url", hide: RedactURLs, usage: "NATS server(s) for events and abort messages, like nats://127.0.0.1:4222 (empty: none)",
			value: &stringValue{p: &s.NATSURL, norm: normNATSURL}},
		{env: EnvNATSSubject, flag: "nats-subject", usage: "subject prefix of the events sent to NATS (<prefix>.<kind>.<state>), or off for no events",
			value: &stringValue{p: &s.NATSSubject, norm: normSubjectOrOff}},
		{env: EnvNATSJetStream, flag: "nats-jetstream", usage: "on: publish events to JetStream, each acknowledged (a stream must cover the subjects); off: core NATS",
			value: &boolValue{p: &s.NATSJetStream}},
		{env: EnvNATSAbortSubject, flag: "nats-abort-subject", usage: "NATS subject of abort messages (like rota.abort), or off; whoever may publish on it can abort running jobs",
			value: &stringValue{p: &s.NATSAbortSubject, norm: normSubjectOrOff}},
		{env: EnvNATSAbortGroup, flag: "nats-abort-group", usage: "NATS queue group of the abort listeners (one node of the group gets each message; one group per deployment)",
			value: &stringValue{p: &s.NATSAbortGroup, norm: normGroup}},
		{env: EnvNATSCreds, flag: "nats-creds", usage: "NATS credentials file (user JWT and NKey seed, as nsc writes it) to authenticate with",
			value: &stringValue{p: &s.NATSCreds, norm: normPath}},
		{env: EnvNATSNKey, flag: "nats-nkey", usage: "file holding the user NKey seed (SU...) to authenticate with NATS",
			value: &stringValue{p: &s.NATSNKey, norm: normPath}},
		{env: EnvNATSTLSCA, flag: "nats-tls-ca", usage: "PEM file of the CAs that verify the NATS server (makes the connections TLS)",
			value: &stringValue{p: &s.NATSTLSCA, norm: normPath}},
		{env: EnvNATSTLSCert, flag: "nats-tls-cert", usage: "PEM client certificate for NATS servers that verify clients (with --nats-tls-key)",
			value: &stringValue{p: &s.NATSTLSCert, norm: normPath}},
		{env: EnvNATSTLSKey, flag: "nats-tls-key", usage: "PEM key of --nats-tls-cert",
			value: &stringValue{p: &s.NATSTLSKey, norm: normPath}},
		{env: EnvKafkaBrokers, flag: "kafka-brokers", usage: "Kafka seed brokers for events and abort messages, host:port,... (empty: none)",
			value: &listValue{p: &s.KafkaBrokers, item: normHostPort}},
		{env: EnvKafkaTopic, flag: "kafka-topic", usage: "Kafka topic of the events (empty: none)",
			value: &stringValue{p: &s.KafkaTopic, norm: normTopic}},
		{env: EnvKafkaAbortTopic, flag: "kafka-abort-topic", usage: "Kafka topic of abort messages (empty: none)",
			value: &stringValue{p: &s.KafkaAbortTopic, norm: normTopic}},
		{env: EnvKafkaGroup, flag: "kafka-group", usage: "Kafka consumer group of the abort consumer",
			value: &stringValue{p: &s.KafkaGroup, norm: normGroup}},
		{env: EnvKafkaTLS, flag: "kafka-tls", usage: "on: connect to Kafka over TLS (verified against the system's roots)",
			value: &boolValue{p: &s.KafkaTLS}},
		{env: EnvKafkaTLSCA, flag: "kafka-tls-ca", usage: "PEM file of the CAs that verify the Kafka brokers instead of the system's roots (makes the connections TLS)",
			value: &stringValue{p: &s.KafkaTLSCA, norm: normPath}},
		{env: EnvKafkaTLSCert, flag: "kafka-tls-cert", usage: "PEM client certificate for Kafka brokers that verify clients (with --kafka-tls-key)",
			value: &stringValue{p: &s.KafkaTLSCert, norm: normPath}},
		{env: EnvKafkaTLSKey, flag: "kafka-tls-key", usage: "PEM key of --kafka-tls-cert",
			value: &stringValue{p: &s.KafkaTLSKey, norm: normPath}},
		{env: EnvKafkaSASL, flag: "kafka-sasl", usage: "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: none)",
			value: &stringValue{p: &s.KafkaSASL, norm: normSASL}},
		{env: EnvKafkaUser, flag: "kafka-user", usage: "Kafka SASL user",
			value: &stringValue{p: &s.KafkaUser, norm: func(v string) (string, error) { return v, nil }}},
		{env: EnvKafkaPassword, flag: "kafka-password", hide: func(string) string { return "xxxxx" },
			usage: "Kafka SASL password; prefer the variable (it is never shown)",
			value: &secretValue{p: &s.KafkaPassword}},
		{env: EnvAbortKeyField, flag: "abort-key-field", usage: "field of an abort message that holds a job key (OMA: analysis_id)",
			value: &stringValue{p: &s.AbortKeyField, norm: normName}},
	}
}

// natsAborts reports whether an abort subject is set ("" and off: none).
func (s Sinks) natsAborts() bool { return s.NATSAbortSubject != "" && s.NATSAbortSubject != SinkOff }

// NATSAborts reports whether rota serve listens for abort messages on
// NATS: a server and an abort subject are set.
func (s Sinks) NATSAborts() bool { return s.NATSURL != "" && s.natsAborts() }

// CheckSinks reports settings that only make sense together.
func (s Sinks) CheckSinks() error {
	var errs []error
	if len(s.KafkaBrokers) == 0 && (s.KafkaTopic != "" || s.KafkaAbortTopic != "") {
		errs = append(errs, &FieldError{Field: EnvKafkaBrokers, Value: "", Reason: "empty, but a Kafka topic is set: name the brokers"})
	}
	if len(s.KafkaBrokers) > 0 && s.KafkaTopic == "" && s.KafkaAbortTopic == "" {
		errs = append(errs, &FieldError{Field: EnvKafkaTopic, Value: "", Reason: "empty, and so is " + EnvKafkaAbortTopic + ": the brokers would serve nothing"})
	}
	if s.KafkaSASL == "" && (s.KafkaUser != "" || s.KafkaPassword != "") {
		errs = append(errs, &FieldError{Field: EnvKafkaSASL, Value: "", Reason: "empty, but a Kafka user or password is set: name the mechanism"})
	}
	if s.NATSURL == "" && s.natsAborts() {
		errs = append(errs, &FieldError{Field: EnvNATSURL, Value: "", Reason: "empty, but " + EnvNATSAbortSubject + " is set: name the NATS server"})
	}
	if s.WebhookSecret != "" && s.WebhookURL == "" {
		errs = append(errs, &FieldError{Field: EnvWebhookURL, Value: "", Reason: "empty, but " + EnvWebhookSecret + " is set"})
	}
	if s.EventsBatch > MaxEventsBatch {
		errs = append(errs, &FieldError{Field: EnvEventsBatch, Value: strconv.Itoa(s.EventsBatch), Reason: fmt.Sprintf("over %d, the most a relay reads at once", MaxEventsBatch)})
	}
	if s.NATSCreds != "" && s.NATSNKey != "" {
		errs = append(errs, &FieldError{Field: EnvNATSNKey, Value: s.NATSNKey, Reason: "set, and so is " + EnvNATSCreds + ": give one of them"})
	}
	for _, f := range []struct {
		env, path string
		check     func([]byte) error
		what      string
	}{
		{EnvNATSCreds, s.NATSCreds, CheckNATSCreds, "not a NATS credentials file"},
		{EnvNATSNKey, s.NATSNKey, CheckNATSNKey, "not a file of a user NKey seed"},
	} {
		if f.path == "" {
			continue
		}
		b, err := readSetting(f.env, f.path)
		if err == nil {
			if cerr := f.check(b); cerr != nil {
				err = &FieldError{Field: f.env, Value: f.path, Reason: f.what + ": " + cerr.Error()}
			}
		}
		clear(b)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := s.NATSTLSConfig(); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.KafkaTLSConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NATSTLSConfig is the TLS configuration of the NATS connections, from
// ROTA_NATS_TLS_CA, _CERT and _KEY; nil when none is set (a tls:// URL
// is then TLS with the system's roots). Errors are *FieldError.
func (s Sinks) NATSTLSConfig() (*tls.Config, error) {
	return tlsConfig(false, tlsFile{EnvNATSTLSCA, s.NATSTLSCA}, tlsFile{EnvNATSTLSCert, s.NATSTLSCert}, tlsFile{EnvNATSTLSKey, s.NATSTLSKey})
}

// KafkaTLSConfig is the TLS configuration of the Kafka connections: nil
// unless ROTA_KAFKA_TLS is on or one of ROTA_KAFKA_TLS_CA, _CERT and _KEY
// is set. Errors are *FieldError.
func (s Sinks) KafkaTLSConfig() (*tls.Config, error) {
	return tlsConfig(s.KafkaTLS, tlsFile{EnvKafkaTLSCA, s.KafkaTLSCA}, tlsFile{EnvKafkaTLSCert, s.KafkaTLSCert}, tlsFile{EnvKafkaTLSKey, s.KafkaTLSKey})
}

// tlsFile is a setting that names a PEM file.
type tlsFile struct{ env, path string }

// tlsConfig builds a client's TLS configuration from a CA file (the roots
// that verify the server; none: the system's) and a certificate and key
// (the client's; both or neither). It is nil when no file is set and on
// is false.
func tlsConfig(on bool, ca, cert, key tlsFile) (*tls.Config, error) {
	if !on && ca.path == "" && cert.path == "" && key.path == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca.path != "" {
		b, err := readSetting(ca.env, ca.path)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, &FieldError{Field: ca.env, Value: ca.path, Reason: "not a PEM file of certificates"}
		}
	}
	switch {
	case cert.path != "" && key.path == "":
		return nil, &FieldError{Field: key.env, Value: "", Reason: "empty, but " + cert.env + " is set: name the certificate's key"}
	case cert.path == "" && key.path != "":
		return nil, &FieldError{Field: cert.env, Value: "", Reason: "empty, but " + key.env + " is set: name the key's certificate"}
	case cert.path != "":
		certPEM, err := readSetting(cert.env, cert.path)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readSetting(key.env, key.path)
		if err != nil {
			return nil, err
		}
		if !hasPEM(certPEM, func(typ string) bool { return typ == "CERTIFICATE" }) {
			return nil, &FieldError{Field: cert.env, Value: cert.path, Reason: "not a PEM certificate"}
		}
		if !hasPEM(keyPEM, func(typ string) bool { return strings.HasSuffix(typ, "PRIVATE KEY") }) {
			return nil, &FieldError{Field: key.env, Value: key.path, Reason: "not a PEM private key"}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		clear(keyPEM)
		if err != nil {
			return nil, &FieldError{Field: key.env, Value: key.path, Reason: "not the key of the certificate in " + cert.env + " (" + err.Error() + ")"}
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// Warnings names the sink settings that are set but do nothing in this
// combination, and risky ones, for rota serve to log at start.
func (s Sinks) Warnings() []string {
	var w []string
	relays := s.WebhookURL != "" || (s.NATSURL != "" && s.NATSSubject != SinkOff) || (len(s.KafkaBrokers) > 0 && s.KafkaTopic != "")
	listeners := (s.NATSURL != "" && s.natsAborts()) || (len(s.KafkaBrokers) > 0 && s.KafkaAbortTopic != "")
	if !relays && (s.EventsFormat != DefaultEventsFormat || len(s.EventsKinds) > 0 || len(s.EventsQueues) > 0 || s.EventsBatch != DefaultEventsBatch) {
		w = append(w, fmt.Sprintf("%s, %s, %s and %s apply to webhooks, NATS and Kafka, and none is set", EnvEventsFormat, EnvEventsKinds, EnvEventsQueues, EnvEventsBatch))
	}
	if s.NATSJetStream && (s.NATSURL == "" || s.NATSSubject == SinkOff) {
		w = append(w, EnvNATSJetStream+" is on, but no events go to NATS")
	}
	if s.NATSURL != "" && s.NATSSubject == SinkOff && !s.natsAborts() {
		w = append(w, EnvNATSURL+" is set, but "+EnvNATSSubject+" and "+EnvNATSAbortSubject+" are both off")
	}
	if !listeners && s.AbortKeyField != DefaultAbortKeyField {
		w = append(w, EnvAbortKeyField+" is set, but no abort subject or topic is")
	}
	if s.KafkaGroup != DefaultKafkaGroup && s.KafkaAbortTopic == "" {
		w = append(w, EnvKafkaGroup+" is set, but "+EnvKafkaAbortTopic+" is not")
	}
	natsAuth := s.NATSCreds != "" || s.NATSNKey != "" || s.NATSTLSCA != "" || s.NATSTLSCert != "" || s.NATSTLSKey != ""
	if natsAuth && s.NATSURL == "" {
		w = append(w, "NATS credentials or TLS files are set, but "+EnvNATSURL+" is not")
	}
	kafkaTLS := s.KafkaTLS || s.KafkaTLSCA != "" || s.KafkaTLSCert != "" || s.KafkaTLSKey != ""
	if kafkaTLS && len(s.KafkaBrokers) == 0 {
		w = append(w, "Kafka TLS is set, but "+EnvKafkaBrokers+" is not")
	}
	if s.KafkaSASL == "plain" && !kafkaTLS {
		w = append(w, EnvKafkaSASL+"=plain without "+EnvKafkaTLS+"=on sends the Kafka password in clear")
	}
	return w
}

func normEventsFormat(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "json", "oma":
		return v, nil
	}
	return "", errors.New(`not "json" or "oma"`)
}

func normSASL(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", "plain", "scram-sha-256", "scram-sha-512":
		return v, nil
	}
	return "", errors.New(`not "plain", "scram-sha-256" or "scram-sha-512"`)
}

func normWebhookURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	return s, CheckHTTPURL(s)
}

func normNATSURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	for _, part := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return "", errors.New("not a list of NATS URLs (like nats://127.0.0.1:4222)")
		}
	}
	return s, nil
}

func normSubjectOrOff(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, SinkOff) {
		return SinkOff, nil
	}
	if CheckNATSSubject(s, false) != nil {
		return "", errors.New("not a NATS subject without wildcards (like rota.events or rota.abort), nor off")
	}
	return s, nil
}

// CheckNATSSubject checks a NATS subject: dot-separated tokens, none empty
// or with whitespace or control characters; with wildcards, '*' and '>'
// may stand as whole tokens ('>' only last), without them not at all.
func CheckNATSSubject(subj string, wildcards bool) error {
	if subj == "" {
		return errors.New("empty subject")
	}
	toks := strings.Split(subj, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q has an empty token", subj)
		case strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return fmt.Errorf("subject %q has whitespace", subj)
		case wildcards && (tok == "*" || tok == ">" && i == len(toks)-1):
		case strings.ContainsAny(tok, "*>"):
			if wildcards {
				return fmt.Errorf("subject %q: '*' and '>' are whole tokens, '>' the last", subj)
			}
			return fmt.Errorf("subject %q: no wildcards ('*', '>') here", subj)
		}
	}
	return nil
}

// CheckHTTPURL checks a URL to send requests to: http or https, a host,
// and a port (when given) from 1 to 65535. Its errors read after "<url>
// is" and never repeat the URL (it may hold a secret).
func CheckHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("not an http or https URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("not an http or https URL (its port is not 1 to 65535)")
		}
	}
	return nil
}

// kafkaTopic is a legal Kafka topic name.
var kafkaTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func normTopic(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s != "" && (!kafkaTopic.MatchString(s) || s == "." || s == "..") {
		return "", errors.New("not a Kafka name (letters, digits, '.', '_' and '-', at most 249)")
	}
	return s, nil
}

func normGroup(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !kafkaTopic.MatchString(s) {
		return "", errors.New("not a group name (letters, digits, '.', '_' and '-', at most 249)")
	}
	return s, nil
}

func normHostPort(s string) (string, error) {
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return "", errors.New("not host:port")
	}
	return s, nil
}

func normName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsFunc(s, unicode.IsControl) {
		return "", errors.New("not a name (empty, or with control characters)")
	}
	return s, nil
}

// boolValue is an on/off setting.
type boolValue struct{ p *bool }

func (v *boolValue) Type() string { return "on|off" }
func (v *boolValue) check() error { return nil }
func (v *boolValue) String() string {
	if *v.p {
		return "on"
	}
	return "off"
}
func (v *boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "yes", "1":
		*v.p = true
	case "off", "false", "no", "0":
		*v.p = false
	default:
		return errors.New(`not "on" or "off"`)
	}
	return nil
}

// listValue is a comma-separated list; blank items are skipped and each
// other item is checked by item.
type listValue struct {
	p    *[]string
	item func(string) (string, error)
}

func (v *listValue) Type() string   { return "list" }
func (v *listValue) String() string { return strings.Join(*v.p, ",") }
func (v *listValue) check() error   { _, err := v.parse(v.String()); return err }
func (v *listValue) Set(s string) error {
	items, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = items
	return nil
}

func (v *listValue) parse(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := v.item(part)
		if err != nil {
			return nil, fmt.Errorf("%w (item %q)", err, part)
		}
		out = append(out, n)
	}
	return out, nil
}

// readSetting reads the file a setting names; the error is a *FieldError
// naming the setting.
func readSetting(env, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, syscall.EISDIR):
		return nil, &FieldError{Field: env, Value: path, Reason: "not a regular file"}
	case err != nil:
		return nil, &FieldError{Field: env, Value: path, Reason: "not a readable file (" + pathless(err).Error() + ")"}
	}
	return b, nil
}

// CheckNATSCreds checks the contents of a NATS credentials file: a user
// JWT and a user NKey seed, as nats.UserCredentials reads them.
func CheckNATSCreds(b []byte) error {
	if !bytes.Contains(b, []byte("BEGIN NATS USER JWT")) {
		return errors.New("no user JWT (a -----BEGIN NATS USER JWT----- block)")
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("no user NKey seed (%w)", err)
	}
	kp.Wipe()
	return nil
}

// CheckNATSNKey checks the contents of an NKey seed file: a user seed
// (SU...), alone or decorated as nsc writes it.
func CheckNATSNKey(b []byte) error {
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("no user NKey seed (%w)", err)
	}
	kp.Wipe()
	return nil
}

// pathless is err without the path a *fs.PathError repeats.
func pathless(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// hasPEM reports whether b holds a PEM block whose type passes ok.
func hasPEM(b []byte, ok func(typ string) bool) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if ok(block.Type) {
			return true
		}
	}
}
