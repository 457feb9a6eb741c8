// TLS tests come next
