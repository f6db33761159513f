package live

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

// assets are the files the page loads from AssetsPath.
//
//go:embed assets
var assets embed.FS

// indexHTML is the page, a template of PageData.
//
//go:embed index.html
var indexHTML string

// AssetsPath is where the page's script and style sheet are served.
const AssetsPath = "/assets/"

var page = template.Must(template.New("index.html").Parse(indexHTML))

// PageData is what the page shows besides the snapshot.
type PageData struct {
	// Version is the exporter's version.
	Version string
	// Metrics and Pprof tell whether /metrics and /debug/pprof/ are served.
	Metrics, Pprof bool
}

// PageHandler serves the page.
func PageHandler(data PageData) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// AssetsHandler serves the page's script and style sheet under AssetsPath:
// files only, no directory listing.
func AssetsHandler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory exists: a build problem
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix(AssetsPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The file server lists directories and redirects index.html to one.
		if name := r.URL.Path; name == "" || strings.HasSuffix(name, "/") || path.Base(name) == "index.html" {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
}

// SnapshotHandler serves source's data as JSON: by default the snapshot of
// every interface (what version 1 always served); with ?view=summary the
// summary of the history (?idle=1: idle interfaces listed too), which costs
// no collection; with ?interface=NAME that interface's detail. A request
// that collects waits at most timeout (503 beyond), and concurrent requests
// share a collection.
func SnapshotHandler(source *Source, timeout time.Duration, log *zap.Logger) http.Handler {
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var v any
		var err error
		switch view, name := q.Get("view"), q.Get("interface"); {
		case view == "summary" && name == "":
			if source.history == nil {
				http.Error(w, "no history: summaries are not served", http.StatusNotFound)
				return
			}
			v = source.history.Summary(q.Get("idle") == "1")
		case view == "" && q.Has("interface"):
			var ok bool
			if v, ok, err = source.Detail(r.Context(), name); err == nil && !ok {
				http.Error(w, "interface not counted", http.StatusNotFound)
				return
			}
		case view == "" && !q.Has("interface"):
			v, err = source.Snapshot(r.Context())
		default:
			http.Error(w, "view is summary or absent, with no interface", http.StatusBadRequest)
			return
		}
		if err != nil {
			if r.Context().Err() == nil {
				log.Warn("live snapshot failed", zap.Error(err))
				http.Error(w, "collection failed", http.StatusInternalServerError)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(w).Encode(v); err != nil {
			log.Debug("live data not sent", zap.Error(err))
		}
	})
	return http.TimeoutHandler(serve, timeout, fmt.Sprintf("collection did not complete within %v\n", timeout))
}
