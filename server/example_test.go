package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/server"
	"github.com/rotahq/rota/store/sqlite"
)

// A server on a client: enqueue a job over HTTP with a write token, and
// see a read token refused when it tries the same.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "rota-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "rota.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}
	client, err := rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	srv, err := server.New(client, server.Options{
		Logger: slog.New(slog.DiscardHandler),
		Tokens: []server.Token{
			{Name: "ci", Role: server.RoleWrite, Secret: "ci-secret-0123456789"},
			{Name: "dashboard", Role: server.RoleRead, Secret: "dash-secret-0123456789"},
		},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler()) // rota serve uses srv.Serve(listener)
	defer ts.Close()

	post := func(secret, body string) *http.Response {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/jobs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		return resp
	}
	resp := post("ci-secret-0123456789", `{"kind":"email.send","args":{"to":"a@example.org"},"delay":"1h"}`)
	var job struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, job.ID, job.State)

	resp = post("dash-secret-0123456789", `{"kind":"email.send"}`)
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, e.Error.Code)
	// Output:
	// 200 1 scheduled
	// 403 forbidden
}
