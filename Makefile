# The single entry point for day-to-day work; CI runs .ci/run, which is the
# same steps in order.
.PHONY: all build test race lint fuzz compat bench ci

all: lint test

build:
	go build -o bin/sluice ./cmd/sluice

test:
	go test ./...

race:
	go test -race ./internal/logstore ./internal/metastore ./internal/topic ./internal/kafka ./internal/group ./internal/queue ./internal/sqs ./broker

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	go tool staticcheck ./...

fuzz:
	for dir in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u); do \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //' | sort -u); do \
			go test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$${FUZZTIME:-30s} ./$$dir || exit 1; \
		done; \
	done

compat:
	bash scripts/compat.sh

bench:
	go test -run='^$$' -bench=. -benchtime=1s ./internal/logstore ./internal/kafka ./internal/queue ./internal/sqs

ci:
	bash .ci/run
