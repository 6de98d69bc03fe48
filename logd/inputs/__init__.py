"""
Inputs: where records come in.  An endpoint's listening service
(L{listeners}) accepts connections and datagrams; a protocol
(L{protocols}) reads them and cuts the bytes into messages with a framer
(L{framing} for lines and telnet, L{syslogframing} for RFC 6587), within the
memory bound of L{partials}; each read becomes a L{logd.records.Batch}
handed to the listener's L{logd.routing.Router}.
"""
