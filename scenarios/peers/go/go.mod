module switchyard/peer

go 1.19
