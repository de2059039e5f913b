package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/remote"
	"github.com/rotahq/rota/server"
	"github.com/rotahq/rota/store/sqlite"
)

// Enqueue and read back a job, store a schedule, and see the server's
// errors as the rota package's: a missing schedule is rota.ErrNotFound and
// a bad spec a *rota.FieldError naming the field.
func Example() {
	ctx := context.Background()
	// A rota server to talk to; in practice, rota serve at its URL.
	dir, _ := os.MkdirTemp("", "rota-remote-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "rota.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}
	c, err := rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	srv, err := server.New(c, server.Options{Logger: slog.New(slog.DiscardHandler),
		Tokens: []server.Token{{Name: "ci", Role: server.RoleWrite, Secret: "ci-secret-0123456789"}}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	rc, err := remote.New(ts.URL, remote.Options{Token: "ci-secret-0123456789"})
	if err != nil {
		panic(err)
	}
	job, err := rc.EnqueueParams(ctx, rota.EnqueueParams{Kind: "email.send", Args: map[string]string{"to": "a@example.org"}, Hold: true})
	if err != nil {
		panic(err)
	}
	job, err = rc.Get(ctx, job.ID)
	fmt.Println(job.ID, job.Kind, job.State, string(job.Args), err)

	s, err := rc.CreateSchedule(ctx, rota.ScheduleParams{Key: "nightly", Kind: "report.build", Spec: "daily at 02:00"})
	fmt.Println(s.Key, s.Spec, s.Enabled, err)

	_, err = rc.GetSchedule(ctx, "weekly")
	fmt.Println(errors.Is(err, rota.ErrNotFound), err)

	_, err = rc.CreateSchedule(ctx, rota.ScheduleParams{Key: "bad", Kind: "report.build", Spec: "daily at 25:00"})
	var fe *rota.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field)
	// Output:
	// 1 email.send ready {"to":"a@example.org"} <nil>
	// nightly daily at 02:00 true <nil>
	// true schedule "weekly" not found
	// true spec
}
