package runlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
)

// Config is config.json: the settings a run was trained with, and how the
// recipe reads in words. Fields a program records beyond these (another
// model's file, its classes, where its data came from) go in Extra, which
// the file holds beside the rest; report shows every field of the file,
// known here or not, so a new one needs no change there.
type Config struct {
	Epochs      int     `json:"epochs"`
	BatchSize   int     `json:"batch_size"`
	LR          float64 `json:"lr"`
	MaxLR       float64 `json:"max_lr"`
	WeightDecay float64 `json:"weight_decay"`
	Dropout     float64 `json:"dropout"`
	DropoutMode string  `json:"dropout_mode"`
	ValSize     int     `json:"val_size"`
	Limit       int     `json:"limit"`
	Seed        uint64  `json:"seed"`
	Recipe      string  `json:"recipe"`
	// FreezeBNAfter is the step after which the run trains in eval mode;
	// nil (null) when it never does.
	FreezeBNAfter     *int   `json:"freeze_bn_after"`
	RecipeDescription string `json:"recipe_description"`
	Optimizer         string `json:"optimizer"`
	Scheduler         string `json:"scheduler"`
	// Started is when the run started, RFC 3339 in UTC; a string, so that
	// a file says what it says.
	Started string `json:"started"`
	// Extra are further top-level fields, each as JSON (Set and Get
	// encode and decode them); none may be named as a field above.
	Extra map[string]json.RawMessage `json:"-"`
}

// fields is Config without its methods, for encoding/json.
type fields Config

// knownKeys are the JSON names of Config's own fields.
var knownKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[fields]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}()

// Set records v, encoded as JSON, as the extra field key.
func (c *Config) Set(key string, v any) error {
	if knownKeys[key] {
		return fmt.Errorf("runlog: %q is a field of Config, not an extra one", key)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("runlog: config field %q: %w", key, err)
	}
	if c.Extra == nil {
		c.Extra = map[string]json.RawMessage{}
	}
	c.Extra[key] = b
	return nil
}

// Get decodes the extra field key into v; ok is false when there is none.
func (c Config) Get(key string, v any) (ok bool, err error) {
	b, ok := c.Extra[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("config field %q: %w", key, err)
	}
	return true, nil
}

// MarshalJSON writes every field, Extra's among them, in the order of
// their names: the order config.json has always had.
func (c Config) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(fields(c))
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if knownKeys[k] {
			return nil, fmt.Errorf("runlog: extra config field %q is a field of Config", k)
		}
		all[k] = v
	}
	return json.Marshal(all)
}

// UnmarshalJSON reads the known fields into theirs and keeps the rest, as
// compact JSON, in Extra.
func (c *Config) UnmarshalJSON(b []byte) error {
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if knownKeys[k] {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return err
		}
		if f.Extra == nil {
			f.Extra = map[string]json.RawMessage{}
		}
		f.Extra[k] = compact.Bytes()
	}
	*c = Config(f)
	return nil
}

// MarshalConfig is config.json's content for c: indented, with a final
// newline.
func MarshalConfig(c Config) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadConfig reads the config.json at path. A field a run does not
// record is zero (FreezeBNAfter nil); whether the settings make a run is
// the reader's to check.
func ReadConfig(path string) (Config, error) {
	b, err := safeio.ReadFile(path, modelfile.MaxRunRecordBytes)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %v", path, err)
	}
	return c, nil
}
