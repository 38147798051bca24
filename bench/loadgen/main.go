// An open-loop, constant-rate HTTP load generator for the benchmarks' latency runs, on vegeta's
// attacker: requests leave on schedule whatever the server's answers, at evenly spaced instants,
// and each latency is measured from its own send, so a stall shows in every request it delays.
// (autocannon's fixed rate sends each connection's quota for the second back to back at the
// start of the second, which measures bursts, not a fixed rate.)
//
//	loadgen -url http://127.0.0.1:8016 -requests reqs.json -rate 7300 -duration 10s -connections 16
//
// reqs.json is an array of {"method", "path", "body"} sent in rotation. Prints one JSON object:
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
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

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
	base := flag.String("url", "", "base URL of the server, e.g. http://127.0.0.1:8016")
	requestsFile := flag.String("requests", "", "JSON file: an array of {method, path, body}, sent in rotation")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	connections := flag.Int("connections", 16, "at most this many connections (keep-alive, HTTP/1.1)")
	flag.Parse()
	if *base == "" || *requestsFile == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -url, -requests and a positive -rate are required")
		os.Exit(2)
	}
	data, err := os.ReadFile(*requestsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	var reqs []request
	if err := json.Unmarshal(data, &reqs); err != nil || len(reqs) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -requests must hold a non-empty JSON array of {method, path, body}:", err)
		os.Exit(2)
	}
	header := http.Header{"Content-Type": []string{"application/json"}}
	targets := make([]vegeta.Target, len(reqs))
	for i, r := range reqs {
		targets[i] = vegeta.Target{Method: r.Method, URL: *base + r.Path, Body: []byte(r.Body), Header: header}
	}
	attacker := vegeta.NewAttacker(
		vegeta.Connections(*connections),
		vegeta.MaxConnections(*connections),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
	)
	var metrics vegeta.Metrics
	latencies := make([]time.Duration, 0, int(float64(*rate)*duration.Seconds())+1)
	pace := vegeta.Rate{Freq: *rate, Per: time.Second}
	for res := range attacker.Attack(vegeta.NewStaticTargeter(targets...), pace, *duration, "loadgen") {
		metrics.Add(res)
		latencies = append(latencies, res.Latency)
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
