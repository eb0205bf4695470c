package convert

import "testing"

func TestScratch(t *testing.T) {
	for _, f := range []string{"/tmp/t1.pth", "/tmp/z.pth"} {
		sd, err := ReadPTH(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range sd[:min(3, len(sd))] {
			t.Log(x.Name, x.Shape, x.DType, len(x.F32), len(x.I64))
		}
	}
}
