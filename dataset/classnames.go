package dataset

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// maxNamesFile bounds a class names file: 64 KB holds thousands of names.
const maxNamesFile = 1 << 20

// ReadClassNames reads a file of class names, one a line, in label order
// (--labels FILE): for Fashion-MNIST, "T-shirt/top", "Trouser", ... Spaces
// around a name are dropped, and blank lines at the end. A blank line
// between names, a name given twice or a control character is an error.
func ReadClassNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNamesFile+1))
	if err != nil {
		return nil, &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	if len(b) > maxNamesFile {
		return nil, newError(ErrClassNames, path, fmt.Sprintf("larger than %d bytes: not a file of class names, one a line", maxNamesFile))
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxNamesFile+1)
	for sc.Scan() {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return nil, newError(ErrClassNames, path, "holds no class names: write one name a line, in label order")
	}
	if msg := namesProblem(names, "line", "lines"); msg != "" {
		return nil, newError(ErrClassNames, path, msg)
	}
	return names, nil
}

// CheckClassNames refuses class names that cannot name a model's classes
// in a table or a reply: a blank one, one holding a control character, or
// one given twice. The error (ErrClassNames) counts the classes from 1.
func CheckClassNames(names []string) error {
	if msg := namesProblem(names, "class", "classes"); msg != "" {
		return fmt.Errorf("%w: %s", ErrClassNames, msg)
	}
	return nil
}

// namesProblem is what is wrong with names, each counted as a unit (a
// file's line, a class; units its plural) from 1; "" when nothing is.
func namesProblem(names []string, unit, units string) string {
	seen := map[string]int{}
	for i, n := range names {
		switch {
		case n == "":
			return fmt.Sprintf("%s %d is blank: every class needs a name", unit, i+1)
		case strings.ContainsFunc(n, unicode.IsControl):
			return fmt.Sprintf("%s %d holds a control character", unit, i+1)
		case seen[n] > 0:
			return fmt.Sprintf("%s %d and %d both name %q: class names must differ", units, seen[n], i+1, n)
		}
		seen[n] = i + 1
	}
	return ""
}
