// An open-loop, constant-rate HTTP load generator for the benchmarks' latency runs, on vegeta's
// attacker: requests leave on schedule whatever the server's answers, at evenly spaced instants,
// and each latency is measured from its own send, so a stall shows in every request it delays.
// (autocannon's fixed rate sends each connection's quota for the second back to back at the
// start of the second, which measures bursts, not a fixed rate.)
//
//	loadgen -url http://127.0.0.1:8016 -requests reqs.json -rate 7300 -duration 10s -connections 16
//
// reqs.json is an array of {"method", "path", "body"} sent in rotation; an entry's optional "url"
// (a base URL) replaces -url for it. -header "Name: value" (repeatable) adds a header to every
// request. -clients N runs N independent clients, each with its own pool of -connections, each at
// -rate/N with their sends interleaved (the total still evenly spaced); client i sends the
// entries i, i+N, i+2N... in rotation (so N pods' traffic, each pod on its own connection, or on
// its own server when entry j's url is server j mod N). Prints one JSON object over all clients:
// requests, the achieved rate, successes and the latency quantiles (exact, from every sample).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type request struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

// headers is the repeatable -header flag.
type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type report struct {
	Requests uint64   `json:"requests"`
	Rate     float64  `json:"rate"`
	Success  float64  `json:"success"`
	Failed   int      `json:"failed"`
	P50Ms    float64  `json:"p50Ms"`
	P90Ms    float64  `json:"p90Ms"`
	P99Ms    float64  `json:"p99Ms"`
	P999Ms   float64  `json:"p999Ms"`
	MaxMs    float64  `json:"maxMs"`
	Errors   []string `json:"errors"`
}

func main() {
	base := flag.String("url", "", "base URL of the server, e.g. http://127.0.0.1:8016 (entries with a url of their own need none)")
	requestsFile := flag.String("requests", "", "JSON file: an array of {method, path, body, url?}, sent in rotation")
	rate := flag.Int("rate", 1000, "requests per second (over all clients)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	connections := flag.Int("connections", 16, "at most this many connections per client and server (keep-alive, HTTP/1.1)")
	clients := flag.Int("clients", 1, "independent clients, each with its own connections, sending its share of the entries")
	var extra headers
	flag.Var(&extra, "header", `a header for every request, "Name: value" (repeatable)`)
	samplesFile := flag.String("samples", "", "also write every request as a line \"<sent, ms after the first send> <latency ms>\" to this file")
	flag.Parse()
	if *requestsFile == "" || *rate <= 0 || *clients <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -requests, a positive -rate and a positive -clients are required")
		os.Exit(2)
	}
	data, err := os.ReadFile(*requestsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	var reqs []request
	if err := json.Unmarshal(data, &reqs); err != nil || len(reqs) < *clients {
		fmt.Fprintln(os.Stderr, "loadgen: -requests must hold a JSON array of {method, path, body}, at least one per client:", err)
		os.Exit(2)
	}
	header := http.Header{"Content-Type": []string{"application/json"}}
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintln(os.Stderr, `loadgen: -header must be "Name: value":`, h)
			os.Exit(2)
		}
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	targets := make([][]vegeta.Target, *clients)
	for i, r := range reqs {
		url := r.URL
		if url == "" {
			url = *base
		}
		if url == "" {
			fmt.Fprintln(os.Stderr, "loadgen: -url is required unless every entry has a url")
			os.Exit(2)
		}
		c := i % *clients
		targets[c] = append(targets[c], vegeta.Target{Method: r.Method, URL: url + r.Path, Body: []byte(r.Body), Header: header})
	}
	var metrics vegeta.Metrics
	latencies := make([]time.Duration, 0, int(float64(*rate)*duration.Seconds())+1)
	// Each client at rate/clients; client i starts i/rate s after the first, so the sends interleave.
	pace := vegeta.Rate{Freq: *rate, Per: time.Duration(*clients) * time.Second}
	results := make(chan *vegeta.Result, 1024)
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(c) * time.Second / time.Duration(*rate))
			attacker := vegeta.NewAttacker(
				vegeta.Connections(*connections),
				vegeta.MaxConnections(*connections),
				vegeta.KeepAlive(true),
				vegeta.HTTP2(false),
			)
			for res := range attacker.Attack(vegeta.NewStaticTargeter(targets[c]...), pace, *duration, "loadgen") {
				results <- res
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	var sentAt []time.Time
	for res := range results {
		metrics.Add(res)
		latencies = append(latencies, res.Latency)
		if *samplesFile != "" {
			sentAt = append(sentAt, res.Timestamp)
		}
	}
	if *samplesFile != "" {
		writeSamples(*samplesFile, sentAt, latencies)
	}
	metrics.Close()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	quantile := func(q float64) float64 {
		if len(latencies) == 0 {
			return math.NaN()
		}
		i := int(math.Ceil(q*float64(len(latencies)))) - 1
		return float64(latencies[max(i, 0)]) / float64(time.Millisecond)
	}
	failed := 0
	for code, n := range metrics.StatusCodes {
		if code < "200" || code >= "300" {
			failed += n
		}
	}
	out := report{
		Requests: metrics.Requests,
		Rate:     metrics.Rate,
		Success:  metrics.Success,
		Failed:   failed,
		P50Ms:    quantile(0.5),
		P90Ms:    quantile(0.9),
		P99Ms:    quantile(0.99),
		P999Ms:   quantile(0.999),
		MaxMs:    quantile(1),
		Errors:   metrics.Errors,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// writeSamples writes each request's send time (ms after the first) and latency, in send order.
func writeSamples(file string, sentAt []time.Time, latencies []time.Duration) {
	order := make([]int, len(sentAt))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return sentAt[order[a]].Before(sentAt[order[b]]) })
	var out strings.Builder
	for _, i := range order {
		fmt.Fprintf(&out, "%.3f %.3f\n", float64(sentAt[i].Sub(sentAt[order[0]]))/float64(time.Millisecond), float64(latencies[i])/float64(time.Millisecond))
	}
	if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
