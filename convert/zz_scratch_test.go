package convert

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestScratchCorpus(t *testing.T) {
	files, _ := filepath.Glob(os.Getenv("CORPUS") + "/*")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		// go test fuzz v1 format: second line is []byte("...")
		lines := bytes.SplitN(raw, []byte("\n"), 2)
		s := string(bytes.TrimSpace(lines[1]))
		s = s[len("[]byte(") : len(s)-1]
		b, err := strconv.Unquote(s)
		if err != nil {
			t.Log(f, err)
			continue
		}
		start := time.Now()
		_, err = DecodePTH(bytes.NewReader([]byte(b)), int64(len(b)), "f")
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Log(filepath.Base(f), d, err)
		}
	}
}
