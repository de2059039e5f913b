package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSinkSettings(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(envOf(map[string]string{
		EnvEventsFormat: "OMA", EnvEventsKinds: " a.b , c,", EnvEventsQueues: "q1",
		EnvWebhookURL: "https://hooks.example/rota", EnvWebhookSecret: "s3cret",
		EnvNATSURL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222", EnvNATSSubject: "oma.out", EnvNATSJetStream: "on",
		EnvNATSAbortSubject: "OFF", EnvKafkaBrokers: "k1:9092, k2:9092", EnvKafkaTopic: "output",
		EnvKafkaAbortTopic: "broadcast", EnvKafkaGroup: "oma-workers", EnvAbortKeyField: "analysis_id",
		EnvKafkaTLS: "on", EnvKafkaSASL: "SCRAM-SHA-512", EnvKafkaUser: "rota", EnvKafkaPassword: "pw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Sinks{EventsFormat: "oma", EventsKinds: []string{"a.b", "c"}, EventsQueues: []string{"q1"},
		WebhookURL: "https://hooks.example/rota", WebhookSecret: "s3cret",
		NATSURL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222", NATSSubject: "oma.out", NATSJetStream: true, NATSAbortSubject: "off",
		KafkaBrokers: []string{"k1:9092", "k2:9092"}, KafkaTopic: "output", KafkaAbortTopic: "broadcast", KafkaGroup: "oma-workers",
		KafkaTLS: true, KafkaSASL: "scram-sha-512", KafkaUser: "rota", KafkaPassword: "pw", AbortKeyField: "analysis_id"}
	if !reflect.DeepEqual(c.Sinks, want) {
		t.Errorf("sinks = %+v\nwant    %+v", c.Sinks, want)
	}
	if !c.Sinks.Any() || Default().Sinks.Any() {
		t.Error("Any: wrong")
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
		{EnvWebhookURL, "ftp://h/x", `ROTA_WEBHOOK_URL: "ftp://h/x" is not an http or https URL`},
		{EnvWebhookURL, "https://u:hunter2@h/x y\x7f", `ROTA_WEBHOOK_URL: "https://u:xxxxx@h/x y\x7f" is not an http or https URL`},
		{EnvNATSURL, "127.0.0.1:4222", `ROTA_NATS_URL: "127.0.0.1:4222" is not a list of NATS URLs`},
		{EnvNATSSubject, "rota.*", `ROTA_NATS_SUBJECT: "rota.*" is not a NATS subject without wildcards`},
		{EnvNATSSubject, "rota..x", `is not a NATS subject`},
		{EnvNATSAbortSubject, "a b", `ROTA_NATS_ABORT_SUBJECT: "a b" is not a NATS subject`},
		{EnvNATSJetStream, "maybe", `ROTA_NATS_JETSTREAM: "maybe" is not "on" or "off"`},
		{EnvKafkaBrokers, "k1:9092,k2", `ROTA_KAFKA_BROKERS: "k1:9092,k2" is not host:port (item "k2")`},
		{EnvKafkaTopic, "out put", `ROTA_KAFKA_TOPIC: "out put" is not a Kafka name`},
		{EnvEventsKinds, "a,\x01", `ROTA_EVENTS_KINDS: "a,\x01" is not a name`},
		{EnvKafkaSASL, "gssapi", `ROTA_KAFKA_SASL: "gssapi" is not "plain", "scram-sha-256" or "scram-sha-512"`},
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
		{Sinks{KafkaBrokers: []string{"k:1"}, KafkaTopic: "t", KafkaPassword: "p"}, "ROTA_KAFKA_SASL"},
	} {
		if err := tc.s.CheckSinks(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSinks(%+v) = %v, want an error naming %s", tc.s, err, tc.want)
		}
	}
}
