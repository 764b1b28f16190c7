module edge

go 1.22
