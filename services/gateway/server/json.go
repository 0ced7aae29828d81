package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// downloadMIME is the media type under which the download marshaler is
// registered; the route middleware selects it for download routes (see
// route.download). It is never sent to clients.
const downloadMIME = "application/x-steward-download"

// newJSONMarshaler returns the gateway's marshaler: grpc-gateway's default
// (proto JSON emitting unpopulated fields; a google.api.HttpBody response is
// sent as is) except that a request body naming an unknown field or an
// unknown enum value is refused rather than silently ignored.
func newJSONMarshaler() *runtime.HTTPBodyMarshaler {
	return &runtime.HTTPBodyMarshaler{Marshaler: &strictJSON{JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}}
}

// downloadMarshaler is the marshaler of download routes: the JSON marshaler
// (for errors) with no delimiter between the streamed chunks, which
// grpc-gateway otherwise ends each with a newline: a blank line in the file
// after every chunk.
type downloadMarshaler struct {
	*runtime.HTTPBodyMarshaler
}

// Delimiter returns nothing: the chunks of a download are one file.
func (downloadMarshaler) Delimiter() []byte { return nil }

// strictJSON is runtime.JSONPb whose decoding errors are the gateway's own
// (see bodyError) rather than the JSON library's.
type strictJSON struct {
	runtime.JSONPb
}

// NewDecoder returns a decoder of r that refuses unknown fields and enum
// values, describing them by name.
func (m *strictJSON) NewDecoder(r io.Reader) runtime.Decoder {
	d := m.JSONPb.NewDecoder(r)
	return runtime.DecoderFunc(func(v any) error {
		err := d.Decode(v)
		if err == nil || errors.Is(err, io.EOF) {
			return err
		}
		if body, ok := r.(*bodyReader); ok && body.failure() != nil {
			// Reading failed (too large, too slow): the error handler
			// answers from the body's state.
			return err
		}
		return describeDecodeError(err)
	})
}

// bodyErrorPrefix starts the message of every request-body decoding error.
const bodyErrorPrefix = "invalid request body: "

// bodyError is a request body that does not decode. Its message is the
// status message the client receives (the generated handlers turn decoding
// errors into InvalidArgument with the error's text); parseBodyError reads
// the field back to add a BadRequest field violation.
type bodyError struct {
	// field is the JSON name of the offending field, "" when the body is
	// not JSON at all.
	field string
	// description says what is wrong.
	description string
}

func (e *bodyError) Error() string {
	if e.field == "" {
		return bodyErrorPrefix + e.description
	}
	return fmt.Sprintf("%sfield %q: %s", bodyErrorPrefix, e.field, e.description)
}

// Shapes of protojson's decoding errors (google.golang.org/protobuf pins
// them; TestDecodeErrors fails if an upgrade changes them).
var (
	protojsonHead      = regexp.MustCompile(`^proto:[\s\x{00a0}]*`)
	protojsonPosition  = regexp.MustCompile(`\s*\(line \d+:\d+\)`)
	unknownFieldError  = regexp.MustCompile(`^(unknown|duplicate) field "((?:[^"\\]|\\.)*)"`)
	invalidValueError  = regexp.MustCompile(`^invalid value for (\w+) field (\S+): (.*)$`)
	maxDescribedLength = 80
)

// describeDecodeError turns a decoding error into a bodyError naming the
// field, without the library's prefixes.
func describeDecodeError(err error) error {
	msg := protojsonHead.ReplaceAllString(err.Error(), "")
	msg = protojsonPosition.ReplaceAllString(msg, "")
	msg = strings.TrimSpace(strings.TrimPrefix(msg, ":"))
	if m := unknownFieldError.FindStringSubmatch(msg); m != nil {
		var field string
		if json.Unmarshal([]byte(`"`+m[2]+`"`), &field) != nil {
			field = m[2]
		}
		return &bodyError{field: field, description: m[1] + " field"}
	}
	if m := invalidValueError.FindStringSubmatch(msg); m != nil {
		value := truncate(m[3], maxDescribedLength)
		what := "value"
		if m[1] == "enum" {
			what = "enum value"
		}
		return &bodyError{field: m[2], description: "unknown or invalid " + what + " " + value}
	}
	return &bodyError{description: truncate(msg, 2*maxDescribedLength)}
}

// truncate shortens s to at most n bytes, on a character boundary, marking
// the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// fieldMessage is the message of a bodyError naming a field.
var fieldMessage = regexp.MustCompile(`^` + regexp.QuoteMeta(bodyErrorPrefix) + `field "((?:[^"\\]|\\.)*)": (.*)$`)

// withFieldViolation adds a BadRequest field violation to st when it is a
// bodyError naming a field, and returns it unchanged otherwise.
func withFieldViolation(st *status.Status) *status.Status {
	if st.Code() != codes.InvalidArgument || len(st.Details()) > 0 {
		return st
	}
	m := fieldMessage.FindStringSubmatch(st.Message())
	if m == nil {
		return st
	}
	field, err := strconv.Unquote(`"` + m[1] + `"`)
	if err != nil {
		return st
	}
	withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: m[2]},
	}})
	if err != nil {
		return st
	}
	return withDetails
}
