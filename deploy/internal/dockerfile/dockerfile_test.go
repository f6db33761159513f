package dockerfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const buildStage = `FROM golang:1 AS build
ARG TARGETARCH
RUN CGO_ENABLED=0 GOARCH=${TARGETARCH} go build -o /out/app ./cmd/app
`

func read(t *testing.T, text string) File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImage(t *testing.T) {
	args := map[string]string{"VERSION": "v1", "TARGETARCH": "arm64"}
	tests := []struct {
		name, stage string
		want        Image
		err         string // in the error; "" for none
	}{
		{"every instruction reproduced", `FROM scratch
ARG VERSION=dev
LABEL a="x y" version="${VERSION}"
ENV MODE=fast
COPY --from=build /out/app /bin/app
COPY app.yaml /etc/app/
USER 0:0
EXPOSE 80 53/udp
ENTRYPOINT ["/bin/app"]
CMD ["--config", "/etc/app/app.yaml"]
`, Image{Base: "scratch", Labels: map[string]string{"a": "x y", "version": "v1"}, Env: []string{"MODE=fast"},
			Copies: []Copy{{From: "build", Sources: []string{"/out/app"}, Dest: "/bin/app"}, {Sources: []string{"app.yaml"}, Dest: "/etc/app/"}},
			User:   "0:0", ExposedPorts: []string{"53/udp", "80"}, Entrypoint: []string{"/bin/app"}, Cmd: []string{"--config", "/etc/app/app.yaml"}}, ""},
		{"default build argument", "FROM scratch\nARG VERSION=dev\nLABEL v=$VERSION\n", Image{}, ""},
		{"RUN", "FROM scratch\nRUN true\n", Image{}, "RUN"},
		{"WORKDIR", "FROM scratch\nWORKDIR /x\n", Image{}, "WORKDIR"},
		{"COPY --chown", "FROM scratch\nCOPY --chown=1:1 a /a\n", Image{}, "COPY"},
		{"shell-form ENTRYPOINT", "FROM scratch\nENTRYPOINT /bin/app\n", Image{}, "shell form"},
		{"shell-form CMD", "FROM scratch\nCMD run\n", Image{}, "shell form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(t, buildStage+tt.stage).Image(args)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("Image() error %v, want one naming %s", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.name == "default build argument":
				if got.Labels["v"] != "v1" {
					t.Errorf("LABEL v=$VERSION with VERSION=v1 given: %q", got.Labels["v"])
				}
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("Image() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestGoBuild(t *testing.T) {
	got, err := read(t, buildStage+"FROM scratch\n").GoBuild(map[string]string{"TARGETARCH": "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	want := GoBuild{Stage: "build", Workdir: "/", Env: []string{"CGO_ENABLED=0", "GOARCH=arm64"},
		Args: []string{"build", "-o", "/out/app", "./cmd/app"}, Output: "/out/app", Line: got.Line}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GoBuild() =\n%+v\nwant\n%+v", got, want)
	}
	for _, text := range []string{"FROM scratch\n", buildStage + buildStage} {
		if _, err := read(t, text).GoBuild(nil); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("GoBuild() of %q: %v, want an error asking for exactly one", text, err)
		}
	}
}
