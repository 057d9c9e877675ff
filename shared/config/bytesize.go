package config

import (
	"encoding"
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is an amount of memory read from the environment in the syntax of the Go runtime's
// GOMEMLIMIT: a whole number of bytes with an optional unit B, KiB, MiB, GiB or TiB ("100MiB").
// Using the runtime's own syntax lets a service read GOMEMLIMIT itself, and lets every memory
// setting next to it be written the same way. The zero value means "not set".
type ByteSize int64

var _ encoding.TextUnmarshaler = (*ByteSize)(nil)

// byteUnits are GOMEMLIMIT's units, longest suffix first so "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// UnmarshalText parses s. "off", which GOMEMLIMIT accepts for "no limit", reads as zero.
func (b *ByteSize) UnmarshalText(s []byte) error {
	text := strings.TrimSpace(string(s))
	if text == "off" {
		*b = 0
		return nil
	}
	number, unit := text, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(text, u.suffix) {
			number, unit = strings.TrimSuffix(text, u.suffix), u.size
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 || (n > 0 && unit > (1<<62)/n) {
		return fmt.Errorf("%q is not a size such as 512KiB, 100MiB or 1GiB", text)
	}
	*b = ByteSize(n * unit)
	return nil
}

// String writes the size in the largest unit that divides it, in the same syntax.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.suffix
		}
	}
	return "0B"
}
