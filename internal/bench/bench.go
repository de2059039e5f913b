package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// Workload names.
const (
	Throughput = "throughput"
	Latency    = "latency"
	Enqueue    = "enqueue"
	Schedules  = "schedules"
)

// Defaults of the workloads, as in the design.
const (
	DefaultThroughputJobs = 100_000
	DefaultWorkers        = 100
	DefaultLatencyJobs    = 2_000
	DefaultLatencyWorkers = 10
	DefaultEvery          = 5 * time.Millisecond
	DefaultEnqueueJobs    = 100_000
	DefaultConcurrency    = 64
	InsertBatch           = 1_000
	// LatencyWarmUp: the latency workloads first run one job that is not
	// measured, through the same path, so that the figures are an idle
	// node's and not its first job's (the first pays for the store's first
	// connections and statement preparation: 150-200 ms on PostgreSQL,
	// which delayed the jobs enqueued behind it too).
	LatencyWarmUp = 1
	// DefaultSchedules schedules fire every second for DefaultScheduleRun.
	DefaultSchedules   = 1_000
	DefaultScheduleRun = time.Minute
	// ScheduleWarmUp: fires in the first seconds of a run are not measured
	// (the leader is elected and the first due batch read then).
	ScheduleWarmUp = 2 * time.Second
	// scheduleDrain: after the run, fires of its last seconds are still
	// awaited this long, so that late ones are measured, not dropped.
	scheduleDrain = 2 * time.Second
	// Kind is the kind of every job the benchmark makes.
	Kind = "rota.bench.noop"
)

// Params chooses a workload and its size. Zero fields take the defaults.
type Params struct {
	Workload    string
	Jobs        int
	Workers     int
	Every       time.Duration
	Concurrency int
	// Future inserts this many jobs scheduled a day ahead in the same queue
	// before the workload, to show fetch cost does not grow with them.
	Future int
	// Schedules and Run size the schedules workload (schedules firing
	// every second, for Run).
	Schedules int
	Run       time.Duration
	// Lookahead is the node's rota.Options.ScheduleLookahead (0: its
	// default; negative: off).
	Lookahead time.Duration
	// Logger for the client; nil discards.
	Logger *slog.Logger
	// EventLog attaches the durable event log writer (rota.EventLog, as
	// rota serve runs it) to the client of the throughput and enqueue
	// workloads, to measure what it costs.
	EventLog bool
}

// Result is one run's figures; the JSON names are the stable interface.
type Result struct {
	Workload    string  `json:"workload"`
	Store       string  `json:"store"`
	Jobs        int     `json:"jobs"`
	Seconds     float64 `json:"seconds"`
	JobsPerS    float64 `json:"jobs_per_s"`
	Workers     int     `json:"workers,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Future      int     `json:"future,omitempty"`
	P50Ms       float64 `json:"p50_ms,omitempty"`
	P99Ms       float64 `json:"p99_ms,omitempty"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	// Schedules workload: the schedules, and the events its subscription
	// lost (their fires are not measured).
	Schedules     int    `json:"schedules,omitempty"`
	EventsDropped uint64 `json:"events_dropped,omitempty"`
	// CPUSeconds is the CPU time (user and system) of this process while
	// the node ran, and CPUPercent that over the wall time (100: one
	// core). Throughput and schedules workloads; the store server's CPU
	// is not included.
	CPUSeconds float64 `json:"cpu_s,omitempty"`
	CPUPercent float64 `json:"cpu_percent,omitempty"`
	// FiresMissing: fires due in the measured window whose job was not
	// seen ready to run (by the end of the drain). In the schedules
	// workload, P50Ms... are when a fire's job was ready to run (queued)
	// less its fire time; Insert* when it was inserted (negative: written
	// ahead, FiresAhead of them) and Start* when a worker started it
	// (FiresStarted of them started by the end of the drain).
	FiresMissing int `json:"fires_missing,omitempty"`
	FiresAhead   int `json:"fires_ahead,omitempty"`
	FiresStarted int `json:"fires_started,omitempty"`
	// FireSeconds: the whole seconds of fire times measured (schedules);
	// JobsPerS is Jobs over them.
	FireSeconds int     `json:"fire_seconds,omitempty"`
	InsertP50Ms float64 `json:"insert_p50_ms,omitempty"`
	InsertP99Ms float64 `json:"insert_p99_ms,omitempty"`
	InsertMaxMs float64 `json:"insert_max_ms,omitempty"`
	StartP50Ms  float64 `json:"start_p50_ms,omitempty"`
	StartP99Ms  float64 `json:"start_p99_ms,omitempty"`
	StartMaxMs  float64 `json:"start_max_ms,omitempty"`
	// HeapMaxMB is the largest Go heap in use seen while working, and
	// MaxRSSMB the process's peak resident set (getrusage), both in MiB.
	// EventLog: the event log writer ran (Params.EventLog); it appended
	// EventsLogged records (EventGaps of them gaps), and took
	// EventLogDrainS after the workload to append what it still held.
	EventLog       bool    `json:"event_log,omitempty"`
	EventsLogged   uint64  `json:"events_logged,omitempty"`
	EventGaps      uint64  `json:"event_gaps,omitempty"`
	EventLogDrainS float64 `json:"event_log_drain_s,omitempty"`
	HeapMaxMB      float64 `json:"heap_max_mb"`
	MaxRSSMB       float64 `json:"max_rss_mb"`
	Queue          string  `json:"queue"`
	// Over HTTP: Deleted jobs of Queue were deleted after the run
	// (HTTPRun.Cleanup), or the queue was Kept with its jobs.
	Deleted int  `json:"deleted,omitempty"`
	Kept    bool `json:"kept,omitempty"`
}

// Run runs one workload on st (already migrated). Every job it makes goes to
// a fresh queue named bench-<random>, reported in Result.Queue.
func Run(ctx context.Context, st store.Store, p Params) (Result, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	queue := "bench-" + hex.EncodeToString(suffix[:])
	res := Result{Workload: p.Workload, Store: st.Driver(), Queue: queue, Future: p.Future}
	if p.Future < 0 {
		return res, errors.New("future: must not be negative")
	}
	if p.Future > 0 {
		if err := insertFuture(ctx, st, queue, p.Future); err != nil {
			return res, err
		}
	}
	var err error
	switch p.Workload {
	case Throughput:
		err = throughput(ctx, st, queue, p, &res)
	case Latency:
		err = latency(ctx, st, queue, p, &res)
	case Enqueue:
		err = enqueue(ctx, st, queue, p, &res)
	case Schedules:
		err = schedules(ctx, st, queue, p, &res)
	default:
		return res, fmt.Errorf("workload: %q is not one of throughput, latency, enqueue, schedules", p.Workload)
	}
	res.MaxRSSMB = maxRSSMB()
	return res, err
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func insertFuture(ctx context.Context, st store.Store, queue string, n int) error {
	at := time.Now().Add(24 * time.Hour)
	batch := make([]store.InsertParams, 0, InsertBatch)
	for i := 0; i < n; i += len(batch) {
		batch = batch[:0]
		for j := i; j < n && len(batch) < InsertBatch; j++ {
			batch = append(batch, store.InsertParams{Kind: Kind, Queue: queue, Args: json.RawMessage(`{}`),
				Priority: store.DefaultPriority, RunAt: at, MaxAttempts: 1})
		}
		if _, err := st.Insert(ctx, time.Now(), batch); err != nil {
			return fmt.Errorf("insert future jobs: %w", err)
		}
	}
	return nil
}

// heapWatch samples the Go heap until stop is closed and returns the maximum.
func heapWatch(stop <-chan struct{}) func() float64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 { <-done; return float64(peak.Load()) / (1 << 20) }
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scheduleSetup is how many schedules the schedules workload creates or
// deletes at once.
const scheduleSetup = 32

// forEach calls fn for every key, scheduleSetup at a time, and returns
// the first error.
func forEach(keys []string, fn func(string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan string)
	for range scheduleSetup {
		wg.Go(func() {
			for k := range next {
				if err := fn(k); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	return first
}

func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

func newClient(st store.Store, queue string, workers int, logger *slog.Logger, w rota.Worker) (*rota.Client, error) {
	return newClientOpts(st, rota.Options{
		NodeID: "bench",
		Queues: map[string]rota.QueueConfig{queue: {MaxWorkers: workers}},
		Logger: logger,
	}, w)
}

// newClientOpts returns a client with opts and w registered for Kind.
func newClientOpts(st store.Store, opts rota.Options, w rota.Worker) (*rota.Client, error) {
	c, err := rota.New(st, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Register(Kind, w); err != nil {
		return nil, err
	}
	return c, nil
}

// attachEventLog starts the event log writer on c when p.EventLog; the
// returned function, called once the workload is over, waits for it to
// append what it holds and records its figures in res.
func attachEventLog(c *rota.Client, p Params, res *Result) (func(ctx context.Context) error, error) {
	if !p.EventLog {
		return func(context.Context) error { return nil }, nil
	}
	l, err := rota.NewEventLog(c, rota.EventLogOptions{Logger: p.Logger})
	if err != nil {
		return nil, err
	}
	res.EventLog = true
	return func(ctx context.Context) error {
		start := time.Now()
		err := l.Close(ctx)
		res.EventLogDrainS = time.Since(start).Seconds()
		res.EventsLogged, res.EventGaps = l.Appended(), l.Gaps()
		return err
	}, nil
}

func throughput(ctx context.Context, st store.Store, queue string, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultThroughputJobs)
	workers := orDefault(p.Workers, DefaultWorkers)
	res.Jobs, res.Workers = n, workers
	batch := make([]store.InsertParams, 0, InsertBatch)
	now := time.Now()
	for i := 0; i < n; i += len(batch) {
		batch = batch[:0]
		for j := i; j < n && len(batch) < InsertBatch; j++ {
			batch = append(batch, store.InsertParams{Kind: Kind, Queue: queue, Args: json.RawMessage(`{}`),
				Priority: store.DefaultPriority, MaxAttempts: 1})
		}
		if _, err := st.Insert(ctx, now, batch); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	var worked atomic.Int64
	all := make(chan struct{})
	c, err := newClient(st, queue, workers, p.Logger, rota.WorkFunc(func(context.Context, *rota.Job) error {
		if worked.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}))
	if err != nil {
		return err
	}
	closeLog, err := attachEventLog(c, p, res)
	if err != nil {
		return err
	}
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	start, cpu0 := time.Now(), cpuTime()
	if err := c.Start(ctx); err != nil {
		return err
	}
	select {
	case <-all:
	case <-ctx.Done():
		_ = c.Stop(context.Background())
		return ctx.Err()
	}
	if err := c.Stop(ctx); err != nil { // flushes the last finishes
		return err
	}
	elapsed := time.Since(start)
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	res.CPUPercent = 100 * res.CPUSeconds / elapsed.Seconds()
	if err := closeLog(ctx); err != nil {
		return err
	}
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	return verifyDone(ctx, st, queue, n)
}

// verifyDone checks that the store holds n done jobs in queue: a benchmark
// that loses jobs must not report a figure.
func verifyDone(ctx context.Context, st store.Store, queue string, n int) error {
	counts, err := st.Counts(ctx)
	if err != nil {
		return err
	}
	var done int64
	for _, c := range counts {
		if c.Queue == queue && c.Kind == Kind && c.State == store.StateDone {
			done += c.N
		}
	}
	if done != int64(n) {
		return fmt.Errorf("bench: %d of %d jobs done in %s", done, n, queue)
	}
	return nil
}

func latency(ctx context.Context, st store.Store, queue string, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultLatencyJobs)
	workers := orDefault(p.Workers, DefaultLatencyWorkers)
	every := p.Every
	if every <= 0 {
		every = DefaultEvery
	}
	res.Jobs, res.Workers = n, workers
	type arg struct {
		I int   `json:"i"`
		T int64 `json:"t"`
	}
	lat := make([]time.Duration, n)
	var started atomic.Int64
	all, warm := make(chan struct{}), make(chan struct{})
	c, err := newClient(st, queue, workers, p.Logger, rota.WorkFunc(func(_ context.Context, job *rota.Job) error {
		now := time.Now()
		var a arg
		if err := json.Unmarshal(job.Args, &a); err != nil || a.I >= n {
			return rota.Fail(fmt.Errorf("bench: bad args %s", job.Args))
		}
		if a.I < 0 {
			close(warm)
			return nil
		}
		lat[a.I] = now.Sub(time.Unix(0, a.T))
		if started.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}))
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	// One job through the whole path before the clock starts (see
	// LatencyWarmUp).
	if _, err := c.Enqueue(ctx, Kind, json.RawMessage(`{"i":-1}`), rota.Queue(queue), rota.MaxAttempts(1)); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	select {
	case <-warm:
	case <-ctx.Done():
		return ctx.Err()
	}
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	for i := range n {
		t := time.Now()
		b, _ := json.Marshal(arg{I: i, T: t.UnixNano()})
		if _, err := c.Enqueue(ctx, Kind, json.RawMessage(b), rota.Queue(queue), rota.MaxAttempts(1)); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		return ctx.Err()
	}
	elapsed := time.Since(start)
	if err := c.Stop(ctx); err != nil {
		return err
	}
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(lat)
	return verifyDone(ctx, st, queue, n+LatencyWarmUp)
}

func enqueue(ctx context.Context, st store.Store, queue string, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultEnqueueJobs)
	conc := orDefault(p.Concurrency, DefaultConcurrency)
	res.Jobs, res.Concurrency = n, conc
	c, err := rota.New(st, rota.Options{NodeID: "bench", Logger: p.Logger})
	if err != nil {
		return err
	}
	closeLog, err := attachEventLog(c, p, res)
	if err != nil {
		return err
	}
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.Enqueue(ctx, Kind, nil, rota.Queue(queue), rota.MaxAttempts(1)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := closeLog(ctx); err != nil {
		return err
	}
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	counts, err := st.Counts(ctx)
	if err != nil {
		return err
	}
	var got int64
	for _, cn := range counts {
		if cn.Queue == queue {
			got += cn.N
		}
	}
	if got != int64(n) {
		return fmt.Errorf("bench: %d of %d jobs stored in %s", got, n, queue)
	}
	return nil
}

// fireTimes are when the events of one fire's job reached the subscriber.
type fireTimes struct {
	ft                       time.Time // the fire time
	inserted, ready, started time.Time
}

// schedules creates p.Schedules schedules that fire every second into
// queue, runs a node (the leader, which fires them and runs their jobs) for
// p.Run, and measures each fire's lateness: when its job was ready to run
// (committed and announced as queued: inserted queued at or after the fire
// time, or, written ahead of it by the lookahead, promoted from scheduled)
// minus its fire time. It also measures the insert (negative: written
// ahead) and the start of the job by the node's workers against the fire
// time. Fires of the first ScheduleWarmUp are not measured; those of the
// last seconds are awaited up to scheduleDrain after the run, and any
// still missing are counted in FiresMissing. The schedules are deleted at
// the end.
func schedules(ctx context.Context, st store.Store, queue string, p Params, res *Result) error {
	n := orDefault(p.Schedules, DefaultSchedules)
	run := p.Run
	if run <= 0 {
		run = DefaultScheduleRun
	}
	if run <= ScheduleWarmUp {
		return fmt.Errorf("run: %s is not longer than the %s warm-up", run, ScheduleWarmUp)
	}
	res.Schedules, res.Workers = n, DefaultWorkers
	c, err := newClientOpts(st, rota.Options{
		NodeID: "bench", Queues: map[string]rota.QueueConfig{queue: {MaxWorkers: DefaultWorkers}},
		Logger: p.Logger, ScheduleLookahead: p.Lookahead,
	}, rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }))
	if err != nil {
		return err
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", queue, i)
	}
	// Created and deleted scheduleSetup at a time (their commits are
	// shared), so that 10,000 take seconds, not minutes.
	defer func() {
		_ = forEach(keys, func(k string) error { return c.DeleteSchedule(context.WithoutCancel(ctx), k) })
	}()
	if err := forEach(keys, func(k string) error {
		_, err := c.CreateSchedule(ctx, rota.ScheduleParams{Key: k, Kind: Kind, Queue: queue,
			Spec: "every 1 second", Misfire: rota.MisfireSkip})
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", k, err)
		}
		return nil
	}); err != nil {
		return err
	}
	// A fire's insert event, then its job's running and done events.
	sub := c.Subscribe(8*n, rota.EventFilter{Queues: []string{queue}})
	defer sub.Close()
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	start, cpu0 := time.Now(), cpuTime()
	if err := c.Start(ctx); err != nil {
		return err
	}
	measureFrom, end := start.Add(ScheduleWarmUp), start.Add(run)
	// Fires are at whole seconds: those in [measureFrom, end).
	first := measureFrom.Truncate(time.Second)
	if first.Before(measureFrom) {
		first = first.Add(time.Second)
	}
	expected, seconds := 0, 0 // fires due in the measured window, and its fire times
	for t := first; t.Before(end); t = t.Add(time.Second) {
		expected += n
		seconds++
	}
	fires := make(map[int64]*fireTimes, expected)
	ready, started := 0, 0
	timer := time.NewTimer(run + scheduleDrain)
	defer timer.Stop()
collect:
	for ready < expected || started < expected {
		select {
		case e := <-sub.C:
			now := time.Now()
			f := fires[e.JobID]
			if f == nil {
				if e.From != "" {
					continue // a job inserted before the subscription, or whose insert event was dropped
				}
				ft, err := time.Parse(time.RFC3339, e.Metadata[rota.MetaFireTime])
				if err != nil || ft.Before(measureFrom) || !ft.Before(end) {
					continue
				}
				f = &fireTimes{ft: ft, inserted: now}
				fires[e.JobID] = f
			}
			switch {
			case e.To == rota.StateQueued && f.ready.IsZero():
				f.ready = now
				ready++
			case e.To == rota.StateRunning && f.started.IsZero():
				f.started = now
				started++
			}
		case <-timer.C:
			break collect
		case <-ctx.Done():
			_ = c.Stop(context.Background())
			return ctx.Err()
		}
	}
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	res.CPUPercent = 100 * res.CPUSeconds / time.Since(start).Seconds()
	res.EventsDropped = sub.Dropped()
	res.FiresMissing = max(0, expected-ready)
	if err := c.Stop(ctx); err != nil {
		return err
	}
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	res.Seconds = run.Seconds()
	var lat, ins, run0 []time.Duration
	for _, f := range fires {
		if !f.ready.IsZero() {
			lat = append(lat, f.ready.Sub(f.ft))
			ins = append(ins, f.inserted.Sub(f.ft))
		}
		if !f.started.IsZero() {
			run0 = append(run0, f.started.Sub(f.ft))
		}
		if f.inserted.Before(f.ft) {
			res.FiresAhead++
		}
	}
	res.Jobs = len(lat)
	if len(lat) == 0 {
		return errors.New("bench: no fire was measured")
	}
	// Per second of fire times measured (the schedules fire at whole
	// seconds): the window from the first to the end is not a whole number
	// of them, and made the rate swing from one run to the next.
	res.FireSeconds = seconds
	res.JobsPerS = float64(len(lat)) / float64(seconds)
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(lat)
	res.InsertP50Ms, res.InsertP99Ms, res.InsertMaxMs = percentiles(ins)
	res.FiresStarted = len(run0)
	if len(run0) > 0 {
		res.StartP50Ms, res.StartP99Ms, res.StartMaxMs = percentiles(run0)
	}
	return nil
}

// percentiles returns the p50, p99 and max of ds (not empty) in
// milliseconds, sorting ds.
func percentiles(ds []time.Duration) (p50, p99, maxMs float64) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	k := len(ds)
	return ms(ds[k/2]), ms(ds[min(k-1, k*99/100)]), ms(ds[k-1])
}
