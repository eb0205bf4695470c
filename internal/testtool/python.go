package testtool

import (
	"bufio"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

//go:embed pyserver.py
var pyserver string

// checked caches RequirePython's import checks: each costs an interpreter
// start and an import of torch, seconds on a small machine.
var checked sync.Map // "torch, onnx" -> error string ("" when they import)

func importCheck(modules []string) string {
	key := strings.Join(modules, ", ")
	if v, ok := checked.Load(key); ok {
		return v.(string)
	}
	msg := ""
	if out, err := exec.Command(Python, "-c", "import "+key).CombinedOutput(); err != nil {
		msg = lastLine(string(out))
	}
	checked.Store(key, msg)
	return msg
}

// A pyServer is one interpreter that runs reference scripts on request.
type pyServer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// servers holds the idle interpreters; there are at most one per CPU, so
// that parallel tests still run scripts side by side.
var servers = struct {
	sync.Mutex
	idle    []*pyServer
	started int
	freed   *sync.Cond
}{}

func init() { servers.freed = sync.NewCond(&servers.Mutex) }

func getServer() (*pyServer, error) {
	servers.Lock()
	defer servers.Unlock()
	for {
		if n := len(servers.idle); n > 0 {
			s := servers.idle[n-1]
			servers.idle = servers.idle[:n-1]
			return s, nil
		}
		if servers.started < runtime.NumCPU() {
			servers.started++
			s, err := startServer()
			if err != nil {
				servers.started--
			}
			return s, err
		}
		servers.freed.Wait()
	}
}

// putServer returns s to the pool, or drops it when it broke (dead == true).
func putServer(s *pyServer, dead bool) {
	servers.Lock()
	defer servers.Unlock()
	if dead {
		servers.started--
		s.in.Close()
		go s.cmd.Wait()
	} else {
		servers.idle = append(servers.idle, s)
	}
	servers.freed.Signal()
}

type pyReply struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// RunScript runs a Python script as `python3 script args...` would, but in
// an interpreter that the test binary keeps for its scripts, so that torch is
// imported once per CPU rather than once per script. env adds variables for
// this run only. It returns the script's stdout, or an error holding its exit
// status and stderr.
func RunScript(t testing.TB, env map[string]string, script string, args ...string) ([]byte, error) {
	t.Helper()
	RequirePython(t, "torch")
	abs, err := filepath.Abs(script)
	if err != nil {
		return nil, err
	}
	s, err := getServer()
	if err != nil {
		return nil, fmt.Errorf("python script server: %v", err)
	}
	req, _ := json.Marshal(map[string]any{"script": abs, "args": append([]string{}, args...), "env": env})
	if _, err := s.in.Write(append(req, '\n')); err != nil {
		putServer(s, true)
		return nil, fmt.Errorf("python script server: %v", err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		putServer(s, true)
		return nil, fmt.Errorf("python script server died running %s: %v", filepath.Base(script), err)
	}
	putServer(s, false)
	var r pyReply
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("python script server reply %q: %v", line, err)
	}
	out, err := base64.StdEncoding.DecodeString(r.Stdout)
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return out, fmt.Errorf("%s %s: exit status %d\n%s", filepath.Base(script), strings.Join(args, " "), r.Code, r.Stderr)
	}
	return out, nil
}

func startServer() (*pyServer, error) {
	cmd := exec.Command(Python, "-c", pyserver)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr // the server's own failures; scripts' stderr travels in replies
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The interpreter exits when the test binary does: its stdin closes.
	return &pyServer{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// MustRunScript is RunScript that fails the test on error.
func MustRunScript(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	out, err := RunScript(t, nil, script, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
