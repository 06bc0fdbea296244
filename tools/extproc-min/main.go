// extproc-min is the cheapest endpoint picker Envoy can talk to: an ext_proc server that sends every request to one
// fixed endpoint (x-gateway-destination-endpoint header and envoy.lb metadata, as the Gateway API Inference
// Extension protocol says) and passes bodies through unchanged in every body mode. bench:gateway runs it as the
// floor that no real picker can go below.
package main

import (
	"flag"
	"io"
	"log"
	"net"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

const destinationHeader = "x-gateway-destination-endpoint"

type picker struct {
	extprocv3.UnimplementedExternalProcessorServer
	endpoint string
}

// modes is what the stream's first message said about its body modes (Envoy sends protocol_config only once).
type modes struct{ requestDuplex, responseDuplex bool }

func (p *picker) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	var m *modes
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if m == nil {
			cfg := req.GetProtocolConfig()
			m = &modes{
				requestDuplex:  cfg.GetRequestBodyMode() == filterv3.ProcessingMode_FULL_DUPLEX_STREAMED,
				responseDuplex: cfg.GetResponseBodyMode() == filterv3.ProcessingMode_FULL_DUPLEX_STREAMED,
			}
		}
		resp := p.answer(req, m)
		if resp == nil {
			continue
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// answer replies to one phase. Bodies: in FULL_DUPLEX_STREAMED mode Envoy forwards only what the processor sends
// back, so each chunk is echoed as a streamed body; in the other modes CONTINUE leaves the body as it is.
func (p *picker) answer(req *extprocv3.ProcessingRequest, m *modes) *extprocv3.ProcessingResponse {
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{
					ClearRouteCache: true,
					HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
						Header:       &corev3.HeaderValue{Key: destinationHeader, RawValue: []byte(p.endpoint)},
						AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
					}}},
				},
			}},
			DynamicMetadata: p.metadata(),
		}
	case *extprocv3.ProcessingRequest_RequestBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: bodyReply(r.RequestBody, m.requestDuplex)}}
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: bodyReply(r.ResponseBody, m.responseDuplex)}}
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}}
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}}
	}
	return nil
}

func bodyReply(b *extprocv3.HttpBody, duplex bool) *extprocv3.BodyResponse {
	if !duplex {
		return &extprocv3.BodyResponse{}
	}
	return &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_StreamedResponse{
			StreamedResponse: &extprocv3.StreamedBodyResponse{Body: b.GetBody(), EndOfStream: b.GetEndOfStream()},
		}},
	}}
}

func (p *picker) metadata() *structpb.Struct {
	lb, _ := structpb.NewStruct(map[string]any{destinationHeader: p.endpoint})
	return &structpb.Struct{Fields: map[string]*structpb.Value{"envoy.lb": structpb.NewStructValue(lb)}}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9002", "gRPC address to serve ext_proc on")
	endpoint := flag.String("endpoint", "", "ip:port every request is sent to")
	flag.Parse()
	if *endpoint == "" {
		log.Fatal("extproc-min: --endpoint is required")
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, &picker{endpoint: *endpoint})
	log.Printf("extproc-min listening on %s, endpoint %s", lis.Addr(), *endpoint)
	log.Fatal(srv.Serve(lis))
}
