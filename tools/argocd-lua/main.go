// Command argocd-lua runs an Argo CD resource health script the way Argo CD's application
// controller does (argo-cd util/lua: VM.ExecuteHealthLua), so the project's health check is tested
// by the engine that runs it in production rather than by C Lua 5.1.
//
// Argo CD's own Go package cannot be built from the Go module proxy (argo-cd v3 replaces its
// gitops-engine with an in-repository copy the proxy does not serve), so this program sets up
// gopher-lua as that package does:
//   - a script from argocd-cm (resource.customizations.health.*) runs without Lua's standard
//     libraries unless the override sets useOpenLibs; only package, base, table and a "safe" os
//     (time and date) are opened, and os is also preloaded for require("os");
//   - a built-in script (resource_customizations/ in Argo CD's repository) runs with them all;
//   - the object is the global `obj`, JSON numbers become Lua numbers and null becomes nil;
//   - the script has one second; its returned table is encoded with gopher-json and read as
//     {status, message}; a status outside Argo CD's six becomes Unknown with Argo CD's message.
//
// Usage: argocd-lua [--open-libs] SCRIPT < objects.json (a JSON array of objects); prints a JSON
// array with {"status", "message"} or {"error"} for each object.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// The health statuses Argo CD accepts (gitops-engine pkg/health).
var validStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

func main() {
	openLibs := flag.Bool("open-libs", false, "open Lua's standard libraries (Argo CD does for built-in scripts and for overrides with useOpenLibs: true)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua [--open-libs] SCRIPT < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var objects []map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintln(os.Stderr, "stdin must be a JSON array of objects:", err)
		os.Exit(1)
	}
	results := make([]result, 0, len(objects))
	for _, obj := range objects {
		status, message, err := executeHealth(obj, string(script), *openLibs)
		if err != nil {
			results = append(results, result{Error: err.Error()})
		} else {
			results = append(results, result{Status: status, Message: message})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func executeHealth(obj map[string]any, script string, openLibs bool) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	returned := l.Get(-1)
	if returned.Type() != lua.LTTable {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", returned.Type())
	}
	encoded, err := luajson.Encode(returned)
	if err != nil {
		return "", "", err
	}
	var health struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(encoded, &health); err != nil {
		return "", "", err
	}
	if !validStatuses[health.Status] {
		return "Unknown", "Lua returned an invalid health status", nil
	}
	return health.Status, health.Message, nil
}

// toLua converts a decoded JSON value as Argo CD converts an unstructured object.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		table := l.CreateTable(len(v), 0)
		for _, item := range v {
			table.Append(toLua(l, item))
		}
		return table
	case map[string]any:
		table := l.CreateTable(0, len(v))
		for key, item := range v {
			table.RawSetH(lua.LString(key), toLua(l, item))
		}
		return table
	}
	return lua.LNil
}

// Argo CD's "safe" os library: only time and date, nothing that exits or touches files.
var safeOsFuncs = map[string]lua.LGFunction{"time": osTime, "date": osDate}

func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.OsLibName, safeOsFuncs))
	return 1
}

func safeOsLoader(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOsFuncs))
	return 1
}

func osTime(l *lua.LState) int {
	if l.GetTop() == 0 {
		l.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := l.CheckTable(1)
	field := func(key string, fallback int) int {
		if n, ok := t.RawGetString(key).(lua.LNumber); ok {
			return int(n)
		}
		return fallback
	}
	at := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	l.Push(lua.LNumber(at.Unix()))
	return 1
}

// osDate supports the forms a health check needs: no argument, "!%Y-%m-%dT%H:%M:%SZ"-style
// formats, and "*t"; like Argo CD's, unknown directives are kept as they are.
func osDate(l *lua.LState) int {
	now := time.Now()
	format := "%c"
	if l.GetTop() >= 1 {
		format = l.CheckString(1)
		if len(format) > 0 && format[0] == '!' {
			now = now.UTC()
			format = format[1:]
		}
		if l.GetTop() >= 2 {
			now = time.Unix(l.CheckInt64(2), 0)
		}
		if len(format) >= 2 && format[:2] == "*t" {
			t := l.NewTable()
			for key, value := range map[string]int{
				"year": now.Year(), "month": int(now.Month()), "day": now.Day(), "hour": now.Hour(),
				"min": now.Minute(), "sec": now.Second(), "wday": int(now.Weekday()) + 1, "yday": 0,
			} {
				t.RawSetString(key, lua.LNumber(value))
			}
			t.RawSetString("isdst", lua.LFalse)
			l.Push(t)
			return 1
		}
	}
	l.Push(lua.LString(strftime(now, format)))
	return 1
}

var strftimeLayouts = map[byte]string{
	'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "02 Jan 06 15:04 MST", 'd': "02",
	'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04", 'p': "PM", 'S': "05",
	'x': "01/02/06", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'z': "-0700", 'Z': "MST",
}

func strftime(t time.Time, format string) string {
	out := make([]byte, 0, len(format)+16)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i == len(format)-1 {
			out = append(out, format[i])
			continue
		}
		i++
		switch c := format[i]; {
		case c == '%':
			out = append(out, '%')
		case c == 'w':
			out = append(out, byte('0'+t.Weekday()))
		case strftimeLayouts[c] != "":
			out = append(out, t.Format(strftimeLayouts[c])...)
		default:
			out = append(out, '%', c)
		}
	}
	return string(out)
}
