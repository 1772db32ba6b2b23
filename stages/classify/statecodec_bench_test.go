package classify

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// BenchmarkStateCodec is the choice of the changelog's encoding
// (bench/RESULTS.md, "The state changelog's encoding"): a lead's value
// after 1, 16, 64 and 256 events of BenchmarkHistory, encoded and decoded
// by the JSON of before (goccy/go-json), by statecodec.go, and by
// github.com/vmihailenco/msgpack/v5 made to keep what the changelog must
// (msgpackState: structs as arrays, strings interned, times with their
// zone offset, digests as 32 bytes). It reports the value's bytes.
//
// Run: go test -run '^$' -bench BenchmarkStateCodec -benchmem -count 5 -cpu 1 ./stages/classify/
func BenchmarkStateCodec(b *testing.B) {
	for _, prior := range []int{1, 16, 64, 256} {
		ls := historyLead(b, prior)
		for _, c := range stateCodecs {
			v := c.encode(ls)
			b.Run("prior="+strconv.Itoa(prior)+"/codec="+c.name+"/op=encode", func(b *testing.B) {
				for range b.N {
					c.encode(ls)
				}
				b.ReportMetric(float64(len(v)), "value-B")
			})
			b.Run("prior="+strconv.Itoa(prior)+"/codec="+c.name+"/op=decode", func(b *testing.B) {
				for range b.N {
					if _, err := c.decode(v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestEveryCandidateCodecKeepsALeadsStateExactly: the benchmark compares
// codecs that all give back what they were given.
func TestEveryCandidateCodecKeepsALeadsStateExactly(t *testing.T) {
	for _, prior := range []int{1, 64} {
		ls := historyLead(t, prior)
		ls.Facts[0].OccurredAt = ls.Facts[0].OccurredAt.In(time.FixedZone("", 7200)).Add(123 * time.Nanosecond)
		ls.tl = nil
		want, _ := json.Marshal(ls)
		for _, c := range stateCodecs {
			got, err := c.decode(c.encode(ls))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if g, _ := json.Marshal(got); !bytes.Equal(g, want) {
				t.Errorf("%s: after %d events the lead comes back as\n%s\nwant\n%s", c.name, prior, g, want)
			}
		}
	}
}

// historyLead is the state of lead 0 of BenchmarkHistory after prior+1
// events.
func historyLead(t testing.TB, prior int) *leadState {
	e := New(DefaultPolicy(), pseudonym.Development())
	st := NewState()
	for i := 0; i <= prior; i++ {
		apply(t, e, st, historyEvent(0, i))
	}
	return st.leads[pseudonym.Development().LeadKey("H0")]
}

var stateCodecs = []struct {
	name   string
	encode func(*leadState) []byte
	decode func([]byte) (*leadState, error)
}{
	{"json", func(ls *leadState) []byte { b, _ := json.Marshal(ls); return b }, func(b []byte) (*leadState, error) {
		ls := new(leadState)
		return ls, json.Unmarshal(b, ls)
	}},
	{"binary", encodeLead, decodeLead},
	{"msgpack", msgpackEncode, msgpackDecode},
}

func msgpackEncode(ls *leadState) []byte {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseArrayEncodedStructs(true)
	enc.UseInternedStrings(true)
	if err := enc.Encode(ls); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func msgpackDecode(b []byte) (*leadState, error) {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(b))
	dec.UseInternedStrings(true)
	ls := new(leadState)
	return ls, dec.Decode(ls)
}

// msgpack's own time drops the zone offset: a time is [Unix seconds,
// nanoseconds, offset] instead. A digest is its 32 bytes.
func init() {
	msgpack.Register(time.Time{}, func(e *msgpack.Encoder, v reflect.Value) error {
		t := v.Interface().(time.Time)
		_, off := t.Zone()
		if err := e.EncodeArrayLen(3); err != nil {
			return err
		}
		if err := e.EncodeInt(t.Unix()); err != nil {
			return err
		}
		if err := e.EncodeInt(int64(t.Nanosecond())); err != nil {
			return err
		}
		return e.EncodeInt(int64(off))
	}, func(d *msgpack.Decoder, v reflect.Value) error {
		if n, err := d.DecodeArrayLen(); err != nil || n != 3 {
			return errStateValue
		}
		sec, err := d.DecodeInt64()
		if err != nil {
			return err
		}
		nsec, err := d.DecodeInt64()
		if err != nil {
			return err
		}
		off, err := d.DecodeInt()
		if err != nil {
			return err
		}
		t := time.Unix(sec, nsec).UTC()
		if off != 0 {
			t = t.In(time.FixedZone("", off))
		}
		v.Set(reflect.ValueOf(t))
		return nil
	})
}

func (s *seenEvent) EncodeMsgpack(e *msgpack.Encoder) error {
	if s.Digest.isText {
		return errStateValue
	}
	if err := e.EncodeArrayLen(2); err != nil {
		return err
	}
	if err := e.EncodeString(s.ID); err != nil {
		return err
	}
	return e.EncodeBytes(s.Digest.sum[:])
}

func (s *seenEvent) DecodeMsgpack(d *msgpack.Decoder) error {
	if n, err := d.DecodeArrayLen(); err != nil || n != 2 {
		return errStateValue
	}
	id, err := d.DecodeString()
	if err != nil {
		return err
	}
	raw, err := d.DecodeBytes()
	if err != nil {
		return err
	}
	if len(raw) != len(s.Digest.sum) {
		return errStateValue
	}
	s.ID = id
	copy(s.Digest.sum[:], raw)
	return nil
}
