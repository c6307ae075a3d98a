// A client of smsgw's native SOAP API (/ws/v1) and of its Puzzel face (/gw/ws/SMSGatewayV10), written against
// proxies that Mono's wsdl tool generates from the committed WSDLs (see build.sh). It prints one `key=value` line per
// result, as the Java demo does.
//
//   mono SmsgwDemo.exe BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]
//
// ACCOUNT_ID is the Puzzel serviceId; without it the Puzzel call is left out.

using System;
using System.Collections.Generic;
using System.Net;
using System.Web.Services.Protocols;
using System.Xml;

using Smsgw.V1;

public static class SmsgwDemo
{
    const string TextTo = "+4791000011";
    const string BinaryTo = "+4791000012";
    static readonly string[] BatchTo = { "+4791000013", "+4791000014", "not-a-number" };
    const string LaterTo = "+4791000015";
    const string PuzzelTo = "+4791000016";

    public static int Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: mono SmsgwDemo.exe BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]");
            return 2;
        }
        string baseUrl = args[0].TrimEnd('/');
        string account = args[1], password = args[2];
        SmsGatewayService gw = Port(baseUrl, account, password);

        // The methods take the request's fields in order. An optional value type comes with a …Specified flag
        // after it (false: not sent); an optional reference type is left out when null.
        SendResult text = gw.SendTextMessage(TextTo, "Hello from .NET", null, "dotnet-text",
            0, false, default(DateTime), false, default(DateTime), false,  // validitySeconds, expiresAt, scheduledAt
            default(Priority), false, false, false, false, false);          // priority, flash, deliveryReport
        Sent("text", text);

        SendResult binary = gw.SendBinaryMessage(BinaryTo,
            new byte[] { 0x00, 0x01, 0x02, 0xfe, 0xff },
            new byte[] { 0x06, 0x05, 0x04, 0x15, 0x81, 0x00, 0x00 },        // udh: port addressing, 16-bit ports
            4, true, 0, false,                                               // dataCoding, protocolId
            null, "dotnet-binary",                                           // originator, clientReference
            0, false, default(DateTime), false, default(DateTime), false,  // validitySeconds, expiresAt, scheduledAt
            default(Priority), false, false, false);                        // priority, deliveryReport
        Sent("binary", binary);

        var messages = new BatchMessage[BatchTo.Length];
        for (int i = 0; i < BatchTo.Length; i++)
        {
            messages[i] = new BatchMessage {
                recipient = BatchTo[i], text = "Batch message " + i, clientReference = "dotnet-batch-" + i };
        }
        BatchResult batch = gw.SendBatch(null, messages);
        string reference = batch.batchReference;
        Out("batch.reference", reference);
        Out("batch.accepted", batch.accepted);
        Out("batch.refused", batch.refused);
        var ids = new List<long> { text.messageId, binary.messageId };
        foreach (MessageResult r in batch.result)
        {
            string key = "batch." + r.index;
            Out(key + ".recipient", r.recipient);
            if (r.messageIdSpecified)
            {
                Out(key + ".id", r.messageId);
                Out(key + ".status", r.status);
                Out(key + ".segments", r.segments);
                ids.Add(r.messageId);
            }
            else
            {
                Out(key + ".error", r.errorCode);
            }
        }

        foreach (long id in ids)
        {
            MessageInfo info = gw.GetMessageStatus(id, true, null);
            Out("status." + id, info.status);
            Out("status." + id + ".recipient", info.recipient);
            Out("status." + id + ".batch", info.batchReference);
            Out("status." + id + ".history", info.history == null ? 0 : info.history.Length);
        }
        Out("status.byReference.dotnet-text", gw.GetMessageStatus(0, false, "dotnet-text").messageId);

        BatchStatus status = gw.GetBatchStatus(reference);
        Out("batchstatus.total", status.total);
        Out("batchstatus.pending", status.pending);
        foreach (StatusCount c in status.count ?? new StatusCount[0])
        {
            Out("batchstatus." + c.status, c.count);
        }

        // A batch due in an hour, cancelled before it is sent.
        BatchResult scheduled = gw.SendBatch("dotnet-later", new[] { new BatchMessage {
            recipient = LaterTo, text = "Never sent",
            scheduledAt = DateTime.UtcNow.AddHours(1), scheduledAtSpecified = true } });
        Out("later.id", scheduled.result[0].messageId);
        Out("later.status", scheduled.result[0].status);
        foreach (CancelledMessage c in gw.CancelBatch("dotnet-later") ?? new CancelledMessage[0])
        {
            Out("cancelled", c.messageId);
        }

        Report[] reports = gw.ReceiveMessages(10, true) ?? new Report[0];
        Out("received", reports.Length);
        var reportIds = new List<long>();
        foreach (Report r in reports)
        {
            reportIds.Add(r.reportId);
            if (r.inboundMessage != null)
            {
                Out("received." + r.reportId + ".inbound", r.inboundMessage.text);
            }
            if (r.deliveryReport != null)
            {
                Out("received." + r.reportId + ".report", r.deliveryReport.status);
            }
        }
        if (reportIds.Count > 0)
        {
            Out("confirmed", gw.ConfirmMessages(reportIds.ToArray()));
        }

        // Faults: ASMX proxies raise SoapException; the WSDL's fault type is the detail's element, and the code's
        // local part is Client.<that type>.
        try
        {
            gw.GetMessageStatus(1, true, null);
            Out("fault.unknownMessage", "none");
        }
        catch (SoapException e)
        {
            Out("fault.unknownMessage", FaultType(e));
            Out("fault.unknownMessage.code", e.Code.Name);
        }
        try
        {
            Port(baseUrl, account, password + "-wrong").SendTextMessage(TextTo, "never", null, null,
                0, false, default(DateTime), false, default(DateTime), false, default(Priority), false,
                false, false, false, false);
            Out("fault.wrongPassword", "none");
        }
        catch (SoapException e)
        {
            Out("fault.wrongPassword", FaultType(e));
            Out("fault.wrongPassword.code", e.Code.Name);
            Out("fault.wrongPassword.text", FaultText(e));
        }

        if (args.Length > 3)
        {
            Puzzel(baseUrl, int.Parse(args[3]), account, password);
        }
        return 0;
    }

    /// Puzzel's sendMessages from proxies of the vendor-shaped WSDL: the credentials travel in the body.
    static void Puzzel(string baseUrl, int serviceId, string account, string password)
    {
        var port = new Puzzel.V10.SMSGatewayV10EndpointService { Url = baseUrl + "/gw/ws/SMSGatewayV10" };
        var request = new Puzzel.V10.request {
            serviceId = serviceId, username = account, password = password, batchReference = "dotnet-puzzel",
            message = new[] { new Puzzel.V10.message {
                recipient = PuzzelTo, content = "Hello from .NET via Puzzel", clientReference = "dotnet-puzzel-0" } } };
        Puzzel.V10.response response = port.sendMessages(request);
        Out("puzzel.batchReference", response.batchReference);
        foreach (Puzzel.V10.messageStatus s in response.messageStatus)
        {
            string key = "puzzel." + s.sequenceIndex;
            Out(key + ".statusCode", s.statusCode);
            Out(key + ".messageId", s.messageId);
            Out(key + ".recipient", s.recipient);
        }
    }

    /// The credentials are sent when the server asks for them: it answers a request without them with 401 and a
    /// Basic challenge, and the request is repeated with them. (PreAuthenticate = true would save that round trip
    /// on later calls.)
    static SmsGatewayService Port(string baseUrl, string account, string password)
    {
        return new SmsGatewayService {
            Url = baseUrl + "/ws/v1",
            Credentials = new NetworkCredential(account, password),
        };
    }

    static string FaultType(SoapException e)
    {
        XmlNode detail = e.Detail == null ? null : e.Detail.FirstChild;
        while (detail != null && detail.NodeType != XmlNodeType.Element)
        {
            detail = detail.NextSibling;
        }
        return detail == null ? "(no detail)" : detail.LocalName;
    }

    static string FaultText(SoapException e)
    {
        var ns = new XmlNamespaceManager(new NameTable());
        ns.AddNamespace("v1", "urn:smsgw:v1");
        XmlNode text = e.Detail == null ? null : e.Detail.SelectSingleNode("*/v1:text", ns);
        return text == null ? "" : text.InnerText;
    }

    static void Sent(string key, SendResult r)
    {
        Out(key + ".id", r.messageId);
        Out(key + ".status", r.status);
        Out(key + ".recipient", r.recipient);
        Out(key + ".segments", r.segments);
    }

    static void Out(string key, object value)
    {
        Console.WriteLine(key + "=" + value);
    }
}
