module tangle/bench/gomany

go 1.22
