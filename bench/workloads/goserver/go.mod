module goserver

go 1.22
