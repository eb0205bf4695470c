package dataset

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestResizeMatchesPIL checks resize against PIL's Image.resize, byte
// for byte, bilinear and box, enlarging and shrinking, square and not:
// what torchvision's Resize does to the PIL images its data sets give,
// MNIST's 28x28 to 32x32 among them.
func TestResizeMatchesPIL(t *testing.T) {
	python := testtool.RequirePython(t, "PIL")
	type resizeCase struct {
		sw, sh, dw, dh int
		area           bool
		src            []byte
	}
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []resizeCase{{sw: 28, sh: 28, dw: 32, dh: 32}, {sw: 28, sh: 28, dw: 14, dh: 14}, {sw: 28, sh: 28, dw: 64, dh: 64}, {sw: 28, sh: 28, dw: 20, dh: 20, area: true}}
	for range 60 {
		cases = append(cases, resizeCase{sw: 1 + rng.IntN(40), sh: 1 + rng.IntN(40), dw: 1 + rng.IntN(40), dh: 1 + rng.IntN(40), area: rng.IntN(2) == 0})
	}
	var in strings.Builder
	for i := range cases {
		c := &cases[i]
		c.src = make([]byte, c.sw*c.sh)
		for j := range c.src {
			c.src[j] = byte(rng.IntN(256))
		}
		if i%3 == 0 { // ink on paper, as digits are: mostly 0, some 255
			for j := range c.src {
				c.src[j] = []byte{0, 0, 0, 255, c.src[j]}[rng.IntN(5)]
			}
		}
		fmt.Fprintf(&in, "%d %d %d %d %v %x\n", c.sw, c.sh, c.dw, c.dh, c.area, c.src)
	}
	const script = `import sys
from PIL import Image
for line in sys.stdin:
    sw, sh, dw, dh, area, pix = line.split()
    img = Image.frombytes("L", (int(sw), int(sh)), bytes.fromhex(pix))
    f = Image.BOX if area == "true" else Image.BILINEAR
    print(img.resize((int(dw), int(dh)), f).tobytes().hex())`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("PIL: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("PIL answered %d cases of %d", len(lines), len(cases))
	}
	for i, c := range cases {
		want, err := hex.DecodeString(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		got := resize(c.src, c.sw, c.sh, c.dw, c.dh, c.area)
		if !bytes.Equal(got, want) {
			diff, at := 0, -1
			for j := range got {
				if got[j] != want[j] {
					diff++
					if at < 0 {
						at = j
					}
				}
			}
			t.Errorf("%dx%d to %dx%d (area %v): %d of %d pixels differ from PIL's, first (%d, %d): %d, PIL %d",
				c.sw, c.sh, c.dw, c.dh, c.area, diff, len(got), at%c.dw, at/c.dw, got[at], want[at])
		}
	}
}
