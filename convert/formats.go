package convert

import (
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// PyTorch's .pth/.pt and safetensors register with modelfile, as image
// formats register with the image package.
func init() {
	modelfile.RegisterFormat(modelfile.Format{
		Name: modelfile.PTH, Extensions: []string{".pth", ".pt"},
		Read: func(path string, _ *modelfile.Info) (lenet.StateDict, error) { return ReadPTHStateDict(path) },
		Write: func(path string, sd lenet.StateDict, _ modelfile.WriteOptions) error {
			return SavePTH(path, sd)
		},
	})
	modelfile.RegisterFormat(modelfile.Format{
		Name: modelfile.Safetensors, Extensions: []string{".safetensors"},
		Read: func(path string, info *modelfile.Info) (lenet.StateDict, error) {
			sd, meta, err := ReadSafetensors(path)
			if info != nil {
				info.Metadata = meta
			}
			return sd, err
		},
		Write: func(path string, sd lenet.StateDict, opt modelfile.WriteOptions) error {
			meta := map[string]string{"format": "pt"}
			if opt.SourceSHA256 != "" {
				meta["source_sha256"] = opt.SourceSHA256
			}
			return SaveSafetensors(path, sd, meta)
		},
	})
}
