module tangle/gobinprog

go 1.22
