module github.com/tracecart/tracecart/infra/traffic

go 1.26
