module tangle/gofixtures

go 1.22
