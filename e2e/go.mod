module github.com/tracecart/tracecart/e2e

go 1.26.8
