// A client of smsgw's native SOAP API (/ws/v1) and of its Puzzel face (/gw/ws/SMSGatewayV10), written against
// proxies that wsimport generates from the committed WSDLs (see build.sh). It prints one `key=value` line per result.
//
//   java … SmsgwDemo BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]
//
// ACCOUNT_ID is the Puzzel serviceId; without it the Puzzel call is left out.

import java.net.URL;
import java.util.ArrayList;
import java.util.GregorianCalendar;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;

import javax.xml.datatype.DatatypeFactory;
import javax.xml.datatype.XMLGregorianCalendar;
import javax.xml.ws.BindingProvider;

import smsgw.v1.AuthenticationFault;
import smsgw.v1.BatchMessage;
import smsgw.v1.BatchResult;
import smsgw.v1.BatchStatus;
import smsgw.v1.CancelledMessage;
import smsgw.v1.MessageInfo;
import smsgw.v1.MessageResult;
import smsgw.v1.Report;
import smsgw.v1.SendResult;
import smsgw.v1.SmsGateway;
import smsgw.v1.SmsGatewayService;
import smsgw.v1.StatusCount;
import smsgw.v1.UnknownMessageFault;

import com.intele.chimera.gw.wsdl.smsgateway_v1.SMSGatewayV10;
import com.intele.chimera.gw.wsdl.smsgateway_v1.SMSGatewayV10EndpointService;
import com.intele.chimera.gw.xsd.smsgateway.request._2013._02.Message;
import com.intele.chimera.gw.xsd.smsgateway.request._2013._02.Request;
import com.intele.chimera.gw.xsd.smsgateway.response._2013._02.MessageStatus;
import com.intele.chimera.gw.xsd.smsgateway.response._2013._02.Response;

public final class SmsgwDemo {
    static final String TEXT_TO = "+4791000001";
    static final String BINARY_TO = "+4791000002";
    static final String[] BATCH_TO = {"+4791000003", "+4791000004", "not-a-number"};
    static final String LATER_TO = "+4791000005";
    static final String PUZZEL_TO = "+4791000006";

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: SmsgwDemo BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]");
            System.exit(2);
        }
        String base = args[0].replaceAll("/+$", "");
        String account = args[1];
        String password = args[2];

        // The WSDL is read from the classpath (build.sh copies it there); the address is the server's.
        SmsGatewayService service = new SmsGatewayService(resource("wsdl/native/smsgw-v1.wsdl"));
        SmsGateway gw = port(service, base + "/ws/v1", account, password);

        SendResult text = gw.sendTextMessage(TEXT_TO, "Hello from Java", null, "java-text", null, null, null,
                null, null, null);
        sent("text", text);

        byte[] payload = {0x00, 0x01, 0x02, (byte) 0xfe, (byte) 0xff};
        byte[] udh = {0x06, 0x05, 0x04, 0x15, (byte) 0x81, 0x00, 0x00}; // port addressing, 16-bit ports
        SendResult binary = gw.sendBinaryMessage(BINARY_TO, payload, udh, (short) 4, null, null, "java-binary",
                null, null, null, null, null);
        sent("binary", binary);

        List<BatchMessage> messages = new ArrayList<>();
        for (int i = 0; i < BATCH_TO.length; i++) {
            BatchMessage m = new BatchMessage();
            m.setRecipient(BATCH_TO[i]);
            m.setText("Batch message " + i);
            m.setClientReference("java-batch-" + i);
            messages.add(m);
        }
        BatchResult batch = gw.sendBatch(null, messages);
        String ref = batch.getBatchReference();
        out("batch.reference", ref);
        out("batch.accepted", batch.getAccepted());
        out("batch.refused", batch.getRefused());
        List<Long> ids = new ArrayList<>(List.of(text.getMessageId(), binary.getMessageId()));
        for (MessageResult r : batch.getResult()) {
            String key = "batch." + r.getIndex();
            out(key + ".recipient", r.getRecipient());
            if (r.getMessageId() != null) {
                out(key + ".id", r.getMessageId());
                out(key + ".status", r.getStatus().value());
                out(key + ".segments", r.getSegments());
                ids.add(r.getMessageId());
            } else {
                out(key + ".error", r.getErrorCode());
            }
        }

        for (long id : ids) {
            MessageInfo info = gw.getMessageStatus(id, null);
            out("status." + id, info.getStatus().value());
            out("status." + id + ".recipient", info.getRecipient());
            out("status." + id + ".batch", info.getBatchReference());
            out("status." + id + ".history", info.getHistory().size());
        }
        out("status.byReference.java-text", gw.getMessageStatus(null, "java-text").getMessageId());

        BatchStatus status = gw.getBatchStatus(ref);
        out("batchstatus.total", status.getTotal());
        out("batchstatus.pending", status.getPending());
        for (StatusCount c : status.getCount()) {
            out("batchstatus." + c.getStatus().value(), c.getCount());
        }

        // A batch due in an hour, cancelled before it is sent.
        BatchMessage later = new BatchMessage();
        later.setRecipient(LATER_TO);
        later.setText("Never sent");
        later.setScheduledAt(inAnHour());
        BatchResult scheduled = gw.sendBatch("java-later", List.of(later));
        out("later.id", scheduled.getResult().get(0).getMessageId());
        out("later.status", scheduled.getResult().get(0).getStatus().value());
        for (CancelledMessage c : gw.cancelBatch("java-later")) {
            out("cancelled", c.getMessageId());
        }

        List<Long> reportIds = new ArrayList<>();
        List<Report> reports = gw.receiveMessages(10);
        out("received", reports.size());
        for (Report r : reports) {
            reportIds.add(r.getReportId());
            if (r.getInboundMessage() != null) {
                out("received." + r.getReportId() + ".inbound", r.getInboundMessage().getText());
            }
            if (r.getDeliveryReport() != null) {
                out("received." + r.getReportId() + ".report", r.getDeliveryReport().getStatus().value());
            }
        }
        if (!reportIds.isEmpty()) {
            out("confirmed", gw.confirmMessages(reportIds));
        }

        // Typed faults: each is its own exception class, its detail a typed object.
        try {
            gw.getMessageStatus(1L, null);
            out("fault.unknownMessage", "none");
        } catch (UnknownMessageFault e) {
            out("fault.unknownMessage", e.getClass().getSimpleName());
        }
        SmsGateway wrong = port(service, base + "/ws/v1", account, password + "-wrong");
        try {
            wrong.sendTextMessage(TEXT_TO, "never", null, null, null, null, null, null, null, null);
            out("fault.wrongPassword", "none");
        } catch (AuthenticationFault e) {
            out("fault.wrongPassword", e.getClass().getSimpleName());
            out("fault.wrongPassword.text", e.getFaultInfo().getText());
        }

        if (args.length > 3) {
            puzzel(base, Integer.parseInt(args[3]), account, password);
        }
    }

    /** Puzzel's sendMessages from proxies of the vendor-shaped WSDL: the credentials travel in the body. */
    static void puzzel(String base, int serviceId, String account, String password) throws Exception {
        SMSGatewayV10 port = new SMSGatewayV10EndpointService(resource("wsdl/puzzel/SMSGatewayV10.wsdl"))
                .getSMSGatewayV10EndpointPort();
        ((BindingProvider) port).getRequestContext().put(BindingProvider.ENDPOINT_ADDRESS_PROPERTY,
                base + "/gw/ws/SMSGatewayV10");
        Request request = new Request();
        request.setServiceId(serviceId);
        request.setUsername(account);
        request.setPassword(password);
        request.setBatchReference("java-puzzel");
        Message message = new Message();
        message.setRecipient(PUZZEL_TO);
        message.setContent("Hello from Java via Puzzel");
        message.setClientReference("java-puzzel-0");
        request.getMessage().add(message);
        Response response = port.sendMessages(request);
        out("puzzel.batchReference", response.getBatchReference());
        for (MessageStatus s : response.getMessageStatus()) {
            String key = "puzzel." + s.getSequenceIndex();
            out(key + ".statusCode", s.getStatusCode());
            out(key + ".messageId", s.getMessageId());
            out(key + ".recipient", s.getRecipient());
        }
    }

    static SmsGateway port(SmsGatewayService service, String address, String user, String password) {
        SmsGateway port = service.getSmsGatewayPort();
        Map<String, Object> context = ((BindingProvider) port).getRequestContext();
        context.put(BindingProvider.ENDPOINT_ADDRESS_PROPERTY, address);
        context.put(BindingProvider.USERNAME_PROPERTY, user);
        context.put(BindingProvider.PASSWORD_PROPERTY, password);
        return port;
    }

    static void sent(String key, SendResult r) {
        out(key + ".id", r.getMessageId());
        out(key + ".status", r.getStatus().value());
        out(key + ".recipient", r.getRecipient());
        out(key + ".segments", r.getSegments());
    }

    static XMLGregorianCalendar inAnHour() throws Exception {
        GregorianCalendar at = new GregorianCalendar(TimeZone.getTimeZone("UTC"));
        at.add(GregorianCalendar.HOUR, 1);
        return DatatypeFactory.newInstance().newXMLGregorianCalendar(at);
    }

    static URL resource(String name) {
        URL url = SmsgwDemo.class.getClassLoader().getResource(name);
        if (url == null) {
            throw new IllegalStateException(name + " is not on the classpath (run build.sh)");
        }
        return url;
    }

    static void out(String key, Object value) {
        System.out.println(key + "=" + value);
    }
}
