package lenet

import "testing"

// The tables torchsummary 1.5.1 prints for reference/lenet.py's LeNet,
// summary(model, (1, 32, 32), batch_size=B, device="cpu"): checked by hand
// and against the v1.5.1 source run with PyTorch 1.13. By hand:
//
//	params: Conv2d 1*32*9+32 = 320, 32*64*9+64 = 18,496, 64*128*9+128 = 73,856;
//	  BatchNorm2d 2*C = 64, 128, 256; Linear 512*64+64 = 32,832, 64*10+10 = 650;
//	  total 126,602, all trainable.
//	outputs per sample: 3*32,768 + 8,192 + 3*16,384 + 1,024 + 3*2,048
//	  + 512 + 512 + 64 + 64 + 10 = 163,978 elements.
//	B = 128: input 1,024*128*4/2^20 = 0.50; forward/backward
//	  2*163,978*128*4/2^20 = 160.1347... = 160.13; params 126,602*4/2^20
//	  = 0.4829... = 0.48; total 161.1177... = 161.12.
//	B = -1: input |-1,024*4/2^20| = 0.0039 = 0.00; forward/backward
//	  2*163,978*4/2^20 = 1.2510... = 1.25; total 1.7379... = 1.74.
var summaryTests = []struct {
	batch int
	want  string
}{
	{128, `----------------------------------------------------------------
        Layer (type)               Output Shape         Param #
================================================================
            Conv2d-1          [128, 32, 32, 32]             320
              ReLU-2          [128, 32, 32, 32]               0
       BatchNorm2d-3          [128, 32, 32, 32]              64
         MaxPool2d-4          [128, 32, 16, 16]               0
            Conv2d-5          [128, 64, 16, 16]          18,496
              ReLU-6          [128, 64, 16, 16]               0
       BatchNorm2d-7          [128, 64, 16, 16]             128
         MaxPool2d-8            [128, 64, 4, 4]               0
            Conv2d-9           [128, 128, 4, 4]          73,856
             ReLU-10           [128, 128, 4, 4]               0
      BatchNorm2d-11           [128, 128, 4, 4]             256
        MaxPool2d-12           [128, 128, 2, 2]               0
          Flatten-13                 [128, 512]               0
           Linear-14                  [128, 64]          32,832
        Dropout1d-15                  [128, 64]               0
           Linear-16                  [128, 10]             650
================================================================
Total params: 126,602
Trainable params: 126,602
Non-trainable params: 0
----------------------------------------------------------------
Input size (MB): 0.50
Forward/backward pass size (MB): 160.13
Params size (MB): 0.48
Estimated Total Size (MB): 161.12
----------------------------------------------------------------
`},
	{-1, `----------------------------------------------------------------
        Layer (type)               Output Shape         Param #
================================================================
            Conv2d-1           [-1, 32, 32, 32]             320
              ReLU-2           [-1, 32, 32, 32]               0
       BatchNorm2d-3           [-1, 32, 32, 32]              64
         MaxPool2d-4           [-1, 32, 16, 16]               0
            Conv2d-5           [-1, 64, 16, 16]          18,496
              ReLU-6           [-1, 64, 16, 16]               0
       BatchNorm2d-7           [-1, 64, 16, 16]             128
         MaxPool2d-8             [-1, 64, 4, 4]               0
            Conv2d-9            [-1, 128, 4, 4]          73,856
             ReLU-10            [-1, 128, 4, 4]               0
      BatchNorm2d-11            [-1, 128, 4, 4]             256
        MaxPool2d-12            [-1, 128, 2, 2]               0
          Flatten-13                  [-1, 512]               0
           Linear-14                   [-1, 64]          32,832
        Dropout1d-15                   [-1, 64]               0
           Linear-16                   [-1, 10]             650
================================================================
Total params: 126,602
Trainable params: 126,602
Non-trainable params: 0
----------------------------------------------------------------
Input size (MB): 0.00
Forward/backward pass size (MB): 1.25
Params size (MB): 0.48
Estimated Total Size (MB): 1.74
----------------------------------------------------------------
`},
}

func TestSummary(t *testing.T) {
	for _, c := range summaryTests {
		s := Summary(c.batch)
		if got := s.String(); got != c.want {
			t.Errorf("Summary(%d):\n%s\nwant:\n%s", c.batch, got, c.want)
		}
		if s.TotalParams != NumParameters() || s.TrainableParams != s.TotalParams || len(s.Rows) != len(Layers) {
			t.Errorf("Summary(%d): %d params, %d trainable, %d rows; want %d, all, %d",
				c.batch, s.TotalParams, s.TrainableParams, len(s.Rows), NumParameters(), len(Layers))
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 126602: "126,602", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
