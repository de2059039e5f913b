package execworker_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rotahq/rota/internal/execworker"
)

func ExampleRun() {
	cmd := execworker.Command{Shell: `read job; echo "working on $ROTA_JOB_KIND #$ROTA_JOB_ID" >&2; echo "{\"got\": $job}"`}
	in := execworker.Input{ID: 7, Kind: "analysis.ssi", Attempt: 1, Job: []byte(`{"n":1}` + "\n")}
	res, err := execworker.Run(context.Background(), cmd, in, execworker.Options{})
	fmt.Println(string(res.Output), err)
	fmt.Print(res.StderrTail)

	_, err = execworker.Run(context.Background(), execworker.Command{Shell: "exit 75"}, in, execworker.Options{})
	fmt.Println(errors.Is(err, execworker.ErrRetryLater))

	_, err = execworker.Run(context.Background(), execworker.Command{Shell: "echo no disk >&2; exit 3"}, in, execworker.Options{})
	var ee *execworker.ExitError
	fmt.Println(errors.As(err, &ee), ee.Code, err)
	// Output:
	// {"got": {"n":1}} <nil>
	// working on analysis.ssi #7
	// true
	// true 3 execworker: exit status 3: no disk
}
