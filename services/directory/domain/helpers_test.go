package domain_test

import (
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// mask returns a field mask of paths.
func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// lastID returns the last segment of a resource name.
func lastID(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }
