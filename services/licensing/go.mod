module steward.dev/services/licensing

go 1.26

require (
	steward.dev/gen v0.0.0
	steward.dev/pkg v0.0.0
)

replace (
	steward.dev/gen => ../../gen
	steward.dev/pkg => ../../pkg
)
