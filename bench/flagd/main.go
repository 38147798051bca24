// flagd core's evaluator behind an OFREP handler, for the benchmarks' evaluator-only comparisons
// (targeting-vs-flagd, --bench-flag) and the targeting differential test. The OFREP comparison
// runs the flagd server itself (bench/flagd-server).
//
// This program wires flagd core (github.com/open-feature/flagd/core, pinned in go.mod) the way
// flagd's own OFREP handler (flagd/pkg/service/flag-evaluation/ofrep/handler.go) does: the JSON
// evaluator with its targeting operators (fractional, sem_ver, starts_with, ends_with) over the
// memdb flag store, flagd's OFREP request/response models, the same routes, status codes and
// encoding/json output. What real flagd adds and this does not: OpenTelemetry HTTP instrumentation
// (otelhttp), its per-route metrics middleware and per-evaluation metric recording, CORS and
// response compression middleware, gorilla/mux routing and file watching.
//
// Usage: flagd --file flags.flagd.json [--listen 127.0.0.1:0]
// Prints {"event":"listening","url":...} then {"event":"document_loaded",...} on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/open-feature/flagd/core/pkg/evaluator"
	"github.com/open-feature/flagd/core/pkg/logger"
	"github.com/open-feature/flagd/core/pkg/model"
	"github.com/open-feature/flagd/core/pkg/service/ofrep"
	"github.com/open-feature/flagd/core/pkg/store"
	flagsync "github.com/open-feature/flagd/core/pkg/sync"
	"go.uber.org/zap/zapcore"
)

// The header flagd reads a flag-set selector from (flagd/pkg/service.FLAGD_SELECTOR_HEADER).
const selectorHeader = "Flagd-Selector"

type handler struct {
	log       *logger.Logger
	evaluator evaluator.IEvaluator
	requests  atomic.Uint64
}

// requestID stands in for flagd's per-request xid: the evaluator only uses it to tag debug logs.
func (h *handler) requestID() string {
	return strconv.FormatUint(h.requests.Add(1), 36)
}

// context decodes the OFREP body as flagd does: an empty body is an empty context, a malformed
// one is a 400, and a context that is not an object is ignored.
func decodeContext(r *http.Request) (map[string]any, error) {
	request := ofrep.Request{}
	if err := json.NewDecoder(r.Body).Decode(&request); err != nil && err.Error() != "EOF" {
		return nil, err
	}
	evaluationContext, ok := request.Context.(map[string]any)
	if !ok {
		evaluationContext = map[string]any{}
	}
	return evaluationContext, nil
}

// selectorContext carries the request's flag-set selector to the evaluator; a selector with an
// unknown key is an error (flagd core v0.17 validates selectors).
func selectorContext(r *http.Request) (context.Context, error) {
	selector, err := store.NewSelector(r.Header.Get(selectorHeader))
	if err != nil {
		return nil, err
	}
	return context.WithValue(r.Context(), store.SelectorContextKey{}, selector), nil
}

func (h *handler) single(w http.ResponseWriter, r *http.Request) {
	reqID := h.requestID()
	defer h.log.ClearFields(reqID)
	flagKey := r.PathValue("key")
	evaluationContext, err := decodeContext(r)
	if err != nil {
		h.writeJSON(w, http.StatusBadRequest, ofrep.ContextErrorResponseFrom(flagKey))
		return
	}
	ctx, err := selectorContext(r)
	if err != nil {
		h.writeJSON(w, http.StatusBadRequest, ofrep.ContextErrorResponseFrom(flagKey))
		return
	}
	evaluation := h.evaluator.ResolveAsAnyValue(ctx, reqID, flagKey, evaluationContext)
	if evaluation.Error != nil {
		status, payload := ofrep.EvaluationErrorResponseFrom(evaluation)
		h.writeJSON(w, status, payload)
		return
	}
	h.writeJSON(w, http.StatusOK, ofrep.SuccessResponseFrom(evaluation))
}

func (h *handler) bulk(w http.ResponseWriter, r *http.Request) {
	reqID := h.requestID()
	defer h.log.ClearFields(reqID)
	evaluationContext, err := decodeContext(r)
	if err != nil {
		h.writeJSON(w, http.StatusBadRequest, ofrep.BulkEvaluationContextError())
		return
	}
	ctx, err := selectorContext(r)
	if err != nil {
		h.writeJSON(w, http.StatusBadRequest, ofrep.BulkEvaluationContextError())
		return
	}
	evaluations, metadata, err := h.evaluator.ResolveAllValues(ctx, reqID, evaluationContext)
	if err != nil {
		h.writeJSON(w, http.StatusInternalServerError, ofrep.BulkEvaluationContextErrorFrom(
			model.GeneralErrorCode, fmt.Sprintf("Bulk evaluation failed. Tracking ID: %s", reqID)))
		return
	}
	h.writeJSON(w, http.StatusOK, ofrep.BulkEvaluationResponseFrom(evaluations, metadata))
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Add("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func emit(event map[string]any) {
	line, _ := json.Marshal(event)
	fmt.Println(string(line))
}

func main() {
	file := flag.String("file", "", "flagd flag definition file (JSON)")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve OFREP on")
	benchFlag := flag.String("bench-flag", "", "instead of serving: evaluate this flag in a loop and print the rate")
	benchContexts := flag.String("bench-contexts", "", "with --bench-flag: JSON array of evaluation contexts, used in turn")
	benchMs := flag.Int("bench-ms", 1000, "with --bench-flag: how long to evaluate")
	flag.Parse()
	if *file == "" {
		fmt.Fprintln(os.Stderr, "usage: flagd --file flags.flagd.json [--listen 127.0.0.1:0]")
		os.Exit(2)
	}

	// flagd's defaults: info level, JSON logs on stderr, no per-request log fields.
	zapLogger, err := logger.NewZapLogger(zapcore.InfoLevel, "json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log := logger.NewLogger(zapLogger, false)

	source := "file:" + *file
	flagStore, err := store.NewStore(log, []string{source})
	if err != nil {
		log.Fatal(err.Error())
	}
	jsonEvaluator := evaluator.NewJSON(log, flagStore)
	data, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err.Error())
	}
	if err := jsonEvaluator.SetState(flagsync.DataSync{FlagData: string(data), Source: source}); err != nil {
		log.Fatal(fmt.Sprintf("loading %s: %v", *file, err))
	}

	if *benchFlag != "" {
		benchmark(jsonEvaluator, *benchFlag, *benchContexts, *benchMs)
		return
	}

	h := &handler{log: log, evaluator: jsonEvaluator}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", h.single)
	// flagd's bulk route matches both "flags" and "flags/".
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags", h.bulk)
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{$}", h.bulk)

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err.Error())
	}
	// flagd's OFREP server timeouts.
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 3 * time.Second, ReadTimeout: 5 * time.Second}
	emit(map[string]any{"event": "listening", "url": "http://" + listener.Addr().String()})
	emit(map[string]any{"event": "document_loaded", "file": *file})

	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		_ = server.Close()
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err.Error())
	}
}

// benchmark times flagd's JSON evaluator alone (no HTTP) on one flag, cycling through the given
// contexts, and prints {"event":"bench","evaluations":N,"cpuSeconds":S,"wallSeconds":W}: the
// "targeting vs flagd" benchmark's flagd side, measured per CPU second like Flagwright's.
func benchmark(e *evaluator.JSON, flagKey, contextsFile string, ms int) {
	data, err := os.ReadFile(contextsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var contexts []map[string]any
	if err := json.Unmarshal(data, &contexts); err != nil || len(contexts) == 0 {
		fmt.Fprintln(os.Stderr, "bench-contexts: want a non-empty JSON array of objects", err)
		os.Exit(1)
	}
	selector, _ := store.NewSelector("")
	ctx := context.WithValue(context.Background(), store.SelectorContextKey{}, selector)
	cpu := func() float64 {
		var usage syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
		return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
	}
	// Warm-up, then the timed loop.
	for i := 0; i < 10000; i++ {
		e.ResolveAsAnyValue(ctx, "bench", flagKey, contexts[i%len(contexts)])
	}
	cpu0, t0 := cpu(), time.Now()
	deadline := t0.Add(time.Duration(ms) * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			e.ResolveAsAnyValue(ctx, "bench", flagKey, contexts[(n+i)%len(contexts)])
		}
		n += 1000
	}
	emit(map[string]any{"event": "bench", "evaluations": n, "cpuSeconds": cpu() - cpu0, "wallSeconds": time.Since(t0).Seconds()})
}
